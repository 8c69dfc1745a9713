package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWindow: bodies take their share of the window in the order they
// came; one that does not fit waits for room, and is refused with
// ErrSlowDown when none comes in time; a body larger than the window
// takes all of it.
func TestWindow(t *testing.T) {
	ctx := t.Context()
	w := newWindow(100)
	a, err := w.acquire(ctx, 60, time.Second)
	if err != nil || a != 60 {
		t.Fatalf("first: %d %v", a, err)
	}
	if _, err := w.acquire(ctx, 50, 20*time.Millisecond); !errors.Is(err, ErrSlowDown) {
		t.Fatalf("a body that does not fit, with no room coming: %v, want ErrSlowDown", err)
	}
	got := make(chan int64)
	go func() {
		n, err := w.acquire(ctx, 50, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	// A small body that would fit must not overtake the one waiting.
	time.Sleep(20 * time.Millisecond)
	if _, err := w.acquire(ctx, 10, 20*time.Millisecond); !errors.Is(err, ErrSlowDown) {
		t.Fatalf("a small body overtook a waiting one: %v", err)
	}
	select {
	case <-got:
		t.Fatal("granted before there was room")
	case <-time.After(20 * time.Millisecond):
	}
	w.release(a)
	if n := <-got; n != 50 {
		t.Fatalf("the waiting body got %d", n)
	}
	big, err := w.acquire(ctx, 1000, 20*time.Millisecond)
	if err == nil || big != 0 {
		t.Fatalf("a body larger than the window got %d while 50 were taken (%v)", big, err)
	}
	w.release(50)
	if big, err = w.acquire(ctx, 1000, time.Second); err != nil || big != 100 {
		t.Fatalf("a body larger than the window: %d %v, want all 100", big, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.acquire(cctx, 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("a waiter whose request ended: %v", err)
	}
	w.release(big)
	if n, err := w.acquire(ctx, 100, time.Millisecond); err != nil || n != 100 {
		t.Fatalf("after everything was given back: %d %v", n, err)
	}
}
