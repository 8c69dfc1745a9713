package cas

import (
	"sync/atomic"
	"time"
)

// activity tracks the store's foreground work (puts and reads), so that
// the compactor works only when there is none.
type activity struct {
	busy atomic.Int64 // writes in progress
	last atomic.Int64 // Unix ns of the last start or end of foreground work
}

// begin notes the start of a write and returns the function that notes
// its end.
func (a *activity) begin() func() {
	a.busy.Add(1)
	a.mark()
	return func() {
		a.mark()
		a.busy.Add(-1)
	}
}

// mark notes foreground work happening now (a chunk read).
func (a *activity) mark() { a.last.Store(time.Now().UnixNano()) }

// idle reports whether the compactor may work now: no write in progress,
// no foreground work for CompactIdle, and a core's worth of CPU left by
// other processes.
func (s *Store) idle() bool {
	if s.act.busy.Load() > 0 {
		return false
	}
	if time.Since(time.Unix(0, s.act.last.Load())) < s.opts.CompactIdle {
		return false
	}
	return s.opts.anyLoad || s.cpu.spare()
}

// waitIdle returns once the store is idle (true), or when it closes
// (false).
func (s *Store) waitIdle() bool {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return false
		case <-t.C:
		}
		if s.idle() {
			return true
		}
		t.Reset(s.opts.CompactIdle / 4)
	}
}
