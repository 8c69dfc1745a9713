package core

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// window bounds the memory that the bodies being stored take at once. A
// body reserves what storing it can hold in memory at most (its length,
// up to what a Put of any length holds), and waits, first come first
// served, for room.
type window struct {
	mu      sync.Mutex
	free    int64
	size    int64
	waiting []*waiter
}

type waiter struct {
	n     int64
	ready chan struct{}
}

func newWindow(size int64) *window { return &window{free: size, size: size} }

// acquire reserves n bytes (at most the window's size), waiting up to
// wait for room; past that, or when ctx ends, it fails with ErrSlowDown
// or ctx's error.
func (w *window) acquire(ctx context.Context, n int64, wait time.Duration) (int64, error) {
	n = min(n, w.size)
	w.mu.Lock()
	if len(w.waiting) == 0 && w.free >= n {
		w.free -= n
		w.mu.Unlock()
		return n, nil
	}
	me := &waiter{n: n, ready: make(chan struct{})}
	w.waiting = append(w.waiting, me)
	w.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-me.ready:
		return n, nil
	case <-t.C:
		err = fmt.Errorf("%w: the memory for bodies being stored (%d MiB) stayed taken for %v", ErrSlowDown, w.size>>20, wait)
	case <-ctx.Done():
		err = ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-me.ready: // granted meanwhile
		return n, nil
	default:
		for i, x := range w.waiting {
			if x == me {
				w.waiting = append(w.waiting[:i], w.waiting[i+1:]...)
				break
			}
		}
		w.grant() // the head may have changed
	}
	return 0, err
}

// release gives back n bytes that acquire reserved.
func (w *window) release(n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.free += n
	w.grant()
}

// grant wakes the waiters at the head of the queue that fit. The caller
// holds w.mu.
func (w *window) grant() {
	for len(w.waiting) > 0 && w.waiting[0].n <= w.free {
		x := w.waiting[0]
		w.waiting = w.waiting[1:]
		w.free -= x.n
		close(x.ready)
	}
}
