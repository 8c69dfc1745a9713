package raftfsm

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkApply_SmallObjects guards Raft batching: 16 writers put
// distinct 4 KiB files through Node.Apply on one node with its real
// Badger state, and the commits/s metric is what the write path of small
// artifacts can reach. A regression to one fsync per entry shows as a
// drop of an order of magnitude.
func BenchmarkApply_SmallObjects(b *testing.B) {
	n := newTestNode(b)
	mustApply(b, n, &CreateBucket{Bucket: "bench"})
	const writers = 16
	work := make(chan int, writers)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range work {
				c := &PutObject{Bucket: "bench", Key: fmt.Sprintf("1/%032x/artifacts/f%d", i%64, i),
					File: fileOf(chunkOf(fmt.Sprint("bench", i), 4<<10)), Meta: ObjectMeta{ETag: `"e"`}, Time: int64(i)}
				if r, err := n.Apply(b.Context(), c); err != nil || r.Err != nil {
					err = fmt.Errorf("apply %d: %v %v", i, err, r.Err)
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	b.ReportAllocs()
	start, i := time.Now(), 0
	for b.Loop() {
		work <- i
		i++
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "commits/s")
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	if st, _ := n.State().Stats(); st.Objects != int64(i) {
		b.Fatalf("%d objects after %d puts", st.Objects, i)
	}
}
