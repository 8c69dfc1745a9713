package cas

import (
	"context"
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

// markRead notes a chunk read, unless ctx is a background one.
func (a *activity) markRead(ctx context.Context) {
	if ctx.Value(backgroundKey{}) == nil {
		a.mark()
	}
}

type backgroundKey struct{}

// Background returns a context for reads that are the node's own
// background work (filling ETags, say): the store does not count them as
// foreground work, so they leave it quiet (Backlog.Quiet) and do not hold
// the compactor back.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// pace is how much the compactor yields.
type pace int

const (
	// paceIdle yields to the store's own work and to other processes:
	// moving chunks into zstd frames can wait.
	paceIdle pace = iota
	// paceQuiet yields to the store's own work only: giving disk space
	// back must not wait for a machine that other processes keep busy.
	paceQuiet
	// paceNow yields to nothing: an operator asked (Compact, Reclaim).
	paceNow
)

// quiet reports whether the store has had no write in progress and no
// foreground work for CompactIdle.
func (c *compactor) quiet() bool {
	s := c.s
	if s.act.busy.Load() > 0 {
		return false
	}
	return time.Since(time.Unix(0, s.act.last.Load())) >= s.opts.CompactIdle
}

// idle reports whether the store is quiet and other processes leave a
// core's worth of CPU.
func (c *compactor) idle() bool {
	s := c.s
	return c.quiet() && !s.opts.busyCPU && (s.opts.anyLoad || s.cpu.spare())
}

// ready reports whether the compactor may work at pace p now.
func (c *compactor) ready(p pace) bool {
	switch p {
	case paceNow:
		return true
	case paceQuiet:
		return c.quiet()
	default:
		return c.idle()
	}
}

// wait returns once the compactor may work at pace p (true), or when the
// store closes (false).
func (c *compactor) wait(p pace) bool {
	s := c.s
	if c.ready(p) {
		return true
	}
	t := time.NewTimer(s.opts.CompactIdle / 4)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return false
		case <-t.C:
		}
		if c.ready(p) {
			return true
		}
		t.Reset(s.opts.CompactIdle / 4)
	}
}
