package daemon

import (
	"context"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// activity counts the requests a node is serving, on both ports, so that
// it knows when it is idle.
type activity struct {
	inflight atomic.Int64
	last     atomic.Int64 // Unix ns of the last request's start or end
}

// track wraps h so that its requests count as activity.
func (a *activity) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.inflight.Add(1)
		a.last.Store(time.Now().UnixNano())
		defer func() {
			a.last.Store(time.Now().UnixNano())
			a.inflight.Add(-1)
		}()
		h.ServeHTTP(w, r)
	})
}

// idleFor reports whether no request has been served for d.
func (a *activity) idleFor(d time.Duration) bool {
	return a.inflight.Load() == 0 && time.Since(time.Unix(0, a.last.Load())) >= d
}

// releaseIdle is how long a node waits, once its requests have stopped,
// before it gives its free heap back to the system.
const releaseIdle = 10 * time.Second

// releaseMemory gives the heap the node no longer uses back to the
// system once its requests have stopped for releaseIdle, the state
// database's memtable (raftfsm.Node.ReleaseMemtable), and the pages of
// the files Badger maps. Go keeps freed heap up to its next GC goal,
// twice the live heap after a burst, and returns the rest slowly: after
// four concurrent uploads of 128 MiB a node sat at 370 MB for good, 294 MB
// of it free heap. The mapped tables are page cache, but counted in the
// resident set: at 300,000 objects 84 MB of a node's 157 MB once its heap
// was released (pageOutFiles). It runs when the operator gave the node a
// memory budget (the process is the node's).
func (s *Server) releaseMemory(ctx context.Context) {
	t := time.NewTicker(releaseIdle / 4)
	defer t.Stop()
	released := true
	var after int64 // the resident set after the last release
	// A follower's writes come through Raft, not through its handlers:
	// entries applied count as activity too.
	applied, appliedAt := s.raft.State().Applied(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a := s.raft.State().Applied(); a != applied {
			applied, appliedAt = a, time.Now()
		}
		if !s.act.idleFor(releaseIdle) || time.Since(appliedAt) < releaseIdle {
			released = false
			continue
		}
		// The state's memtable first. It is tried at every tick while
		// idle: it does nothing when the memtable took little since, and
		// waits for a turn when a snapshot holds the state.
		memtable, err := s.raft.ReleaseMemtable(anonymousBytes)
		if err != nil {
			s.log.Error("releasing the state's memtable", "err", err)
		}
		// Work goes on after the requests stop (Badger's compactions
		// after a burst of writes, Raft's snapshots): while idle, release
		// again whenever the resident set grew by releaseGrowth.
		if !memtable && released && residentBytes() < after+releaseGrowth {
			continue
		}
		debug.FreeOSMemory()
		paged := pageOutFiles(s.cfg.DataDir)
		after = residentBytes()
		s.log.Debug("gave memory back", "state_memtable", memtable, "mapped_file_bytes", paged, "resident_bytes", after)
		released = true
	}
}

// releaseGrowth is how much an idle node's resident set may grow before
// it releases memory again.
const releaseGrowth = 16 << 20

// uploadMemory is the share of a memory budget that the bodies being
// stored may take at once: half of it (256 MiB of the default 512: eight
// bodies of any size, or many small ones). The rest is the node at rest
// (Badger's memtables, Raft), the decoded-chunk cache (a sixteenth), the
// compactor, and the garbage collector's headroom.
func uploadMemory(limit int64) int64 {
	if limit <= 0 {
		return 0
	}
	return limit / 2
}
