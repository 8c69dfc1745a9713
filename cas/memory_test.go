//go:build !race

package cas

import (
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// heapLive reads the heap that the last garbage collection found live:
// what the program holds, without the garbage that GOGC lets pile up
// between collections (with the default GOGC=100 the heap grows to about
// twice this before the next one).
func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakHeap runs fn while sampling the live heap, and returns how far the
// heap rose above what it was before fn.
func peakHeap(fn func()) int64 {
	runtime.GC()
	base := heapLive()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapLive(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return int64(peak.Load()) - int64(base)
}

// TestStore_PutMemory streams 1 GiB (half compressible, half not) into
// the store and samples the live heap while it runs: a Put holds a few
// read blocks and chunks per worker, never the file, so the peak stays
// under 64 MiB above what the open store holds.
func TestStore_PutMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	s := newTestStore(t)
	src := io.MultiReader(
		io.LimitReader(&textSource{rng: rand.New(rand.NewPCG(1, 2))}, 512<<20),
		io.LimitReader(rand.NewChaCha8([32]byte{9}), 512<<20))
	var res PutResult
	var err error
	grew := peakHeap(func() { res, err = s.Put(t.Context(), src) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 1<<30 {
		t.Fatalf("stored %d bytes", res.Size)
	}
	t.Logf("peak live heap during a 1 GiB put: %d MiB above the open store", grew>>20)
	// The bound the daemon's upload window counts on, with room for the
	// hashing and the runtime's own.
	if bound := s.PutMemory(1 << 30); grew > bound+8<<20 {
		t.Fatalf("a 1 GiB put held %d MiB of heap, more than PutMemory's %d MiB and 8 more", grew>>20, bound>>20)
	}
}

// TestCompact_Memory compacts 512 MiB (half compressible, half not) and
// samples the live heap: the compactor holds one frame's chunks, the
// frame and its encoder, never more, so the peak stays under 32 MiB, and
// one memtable (16 MiB) more when the index's writes fill the current
// one during the pass: Badger holds the full one until it is flushed,
// and whether that happens inside the sampled window is chance (peaks
// of 15-27 MiB without it, 34-42 with it, on this machine).
func TestCompact_Memory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 512 MiB")
	}
	s := testStore(t, t.TempDir(), Options{NoCompactor: true})
	src := io.MultiReader(
		io.LimitReader(&textSource{rng: rand.New(rand.NewPCG(3, 4))}, 256<<20),
		io.LimitReader(rand.NewChaCha8([32]byte{10}), 256<<20))
	if _, err := s.Put(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	var res CompactResult
	var err error
	grew := peakHeap(func() { res, err = s.Compact(t.Context()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak live heap while compacting %d MiB: %d MiB above the open store", res.Logical>>20, grew>>20)
	const bound = 32<<20 + memTableSize
	if bl := s.Backlog(); bl.Chunks != 0 || res.Logical < 500<<20 || grew > bound {
		t.Fatalf("compacted %d bytes (backlog left %+v) holding %d MiB of heap, want 512 MiB under %d", res.Logical, bl, grew>>20, bound>>20)
	}
}

// textSource produces endless compressible text.
type textSource struct{ rng *rand.Rand }

func (t *textSource) Read(p []byte) (int, error) {
	words := []string{"leaf", "split_indices", "0.125", "base_weights", "[", "]", ",", "tree_info"}
	n := 0
	for n < len(p) {
		w := words[t.rng.IntN(len(words))]
		n += copy(p[n:], w)
		if n < len(p) {
			p[n] = ' '
			n++
		}
	}
	return n, nil
}
