package raftfsm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNode_MaxBatch proves on a real three-node cluster that concurrent
// proposals share batches (one log write, one append, one state
// transaction) by default, that MaxBatch 1 hands the state one entry at a
// time, and that either way every proposal is applied, once, alike on
// every node.
func TestNode_MaxBatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxBatch int
	}{{"Default", 0}, {"Off", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			var largest atomic.Int64
			c := newTestClusterWith(t, 3, ClusterOptions{Configure: func(cfg *Config) {
				cfg.MaxBatch = tc.maxBatch
				// One sync per entry on followers, under the race
				// detector, can hold an append past the tests' usual
				// 100 ms and cost the leader its lease.
				cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
				cfg.observeBatch = func(n int) {
					for {
						cur := largest.Load()
						if int64(n) <= cur || largest.CompareAndSwap(cur, int64(n)) {
							return
						}
					}
				}
			}})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			leader := c.Leader(ctx)
			mustApply(t, leader, &CreateBucket{Bucket: "batch"})
			const writers, each = 64, 4
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						cmd := &PutObject{Bucket: "batch", Key: fmt.Sprintf("1/%032x/artifacts/model/f%d", w, i),
							File: fileOf(chunkOf(fmt.Sprint(w, "/", i), 4<<10)), Meta: ObjectMeta{ETag: `"e"`}, Time: int64(i)}
						if r, err := leader.Apply(ctx, cmd); err != nil || r.Err != nil {
							errs <- fmt.Errorf("apply %d/%d: %v %v", w, i, err, r.Err)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := c.EnsureSame(ctx); err != nil {
				t.Fatal(err)
			}
			if st := mustStats(t, leader.State()); st.Objects != writers*each {
				t.Fatalf("%d objects, want %d", st.Objects, writers*each)
			}
			switch got := largest.Load(); {
			case tc.maxBatch == 1 && got != 1:
				t.Fatalf("largest batch %d with MaxBatch 1", got)
			case tc.maxBatch == 0 && got < 2:
				t.Fatalf("%d concurrent proposals never shared a batch", writers)
			default:
				t.Logf("largest batch the state applied: %d entries", got)
			}
		})
	}
}
