package raftfsm

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"

	"github.com/dgraph-io/badger/v4"
)

// MemtableRelease is how much must have been written to the state since
// its database was opened before ReleaseMemtable reopens it.
const MemtableRelease = 16 << 20

// ReleaseMemtable gives back the memory the state database's memtable
// holds, for a node with nothing to do: Badger keeps its memtable in one
// arena of about 166 MiB on the Go heap, allocated whole when the
// memtable opens, whose pages become resident as entries are written
// into it, or all at once when Go hands it memory that something else
// used (which Go must zero first). So an idle node holds what was written
// since the last flush, up to all of it. Badger's API has no call to
// flush a memtable, but closing the database writes it to a table. The
// state is then opened again with the free heap given back to the system
// and the garbage collector held off meanwhile, so that every free page
// is one the system holds: the new arena is not zeroed, and costs
// nothing until written.
//
// It does nothing, and reports false, when less than MemtableRelease was
// written since the database was opened, or when a reader or a snapshot
// holds the state (it does not wait for them). Entries wait while it
// runs: Badger's close writes the memtable out, a fraction of a second
// for a full one. An error means the state could not be opened again;
// the node must be restarted, and says so to every command.
//
// resident, when not nil, reads the process's resident memory: when the
// new arena came out resident all the same (Go may still hand it a page
// something freed meanwhile, and must then zero all of it), the state is
// closed and opened again, up to twice more.
func (n *Node) ReleaseMemtable(resident func() int64) (bool, error) {
	return n.fsm.releaseMemtable(MemtableRelease, resident)
}

func (f *fsm) releaseMemtable(min int64, resident func() int64) (bool, error) {
	if f.written.Load() < min {
		return false, nil
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if !f.mu.TryLock() {
		return false, nil
	}
	defer f.mu.Unlock()
	if f.db == nil || f.err() != nil {
		return false, nil
	}
	cerr := f.db.Close()
	f.db = nil
	db, err := f.reopen(resident)
	if err == nil {
		index, _, rerr := readApplied(db)
		f.amu.Lock()
		if rerr == nil && index != f.applied {
			rerr = fmt.Errorf("the state reopened at entry %d, not %d", index, f.applied)
		}
		f.amu.Unlock()
		if rerr != nil {
			db.Close()
			err = rerr
		}
	}
	if err != nil {
		err = fmt.Errorf("%w: reopen the state to release its memtable: %v", ErrFailed, errors.Join(cerr, err))
		f.log.Error("state store failed; restart the node to recover", "err", err)
		f.settle(func() { f.failed = err })
		return false, err
	}
	f.db = db
	f.written.Store(0)
	if cerr != nil {
		f.log.Warn("closing the state to release its memtable", "err", cerr)
	}
	return true, nil
}

// reopen opens the state database after it was closed: the old arena is
// garbage by then, so the heap is collected and every free page given
// back, and the database is opened with no collection running, so that
// no page freed meanwhile (to be zeroed) ends up in the new arena.
func (f *fsm) reopen(resident func() int64) (*badger.DB, error) {
	path := filepath.Join(f.dir, f.current)
	for attempt := 0; ; attempt++ {
		debug.FreeOSMemory()
		var before int64
		if resident != nil {
			before = resident()
		}
		gc := debug.SetGCPercent(-1)
		db, err := openStateDB(path, f.log)
		debug.SetGCPercent(gc)
		if err != nil || resident == nil || attempt == 2 {
			return db, err
		}
		grew := resident() - before
		if grew < arenaResident {
			return db, nil
		}
		f.log.Debug("the state's new memtable came out resident; opening it again", "grew_bytes", grew)
		if err := db.Close(); err != nil {
			return nil, err
		}
	}
}

// arenaResident is how much the resident set grows by when a new
// memtable's arena was zeroed: half of it, well above anything else that
// opening the state allocates.
const arenaResident = 64 << 20
