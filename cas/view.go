package cas

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// view answers Put's "does the store hold this chunk?" from one Badger
// read transaction kept for a while, instead of opening one per chunk:
// Badger hands out a read timestamp only once every commit in progress
// has been applied, so a lookup per new transaction waited for Put's own
// batches to be written and left its workers idle.
//
// A view may miss chunks committed after it was opened; such a chunk is
// compressed again and write, which looks in a fresh transaction, finds
// it. It must never report a chunk that a Delete has removed since it
// was opened, or a file would reference a chunk that is gone: a view is
// opened only while no Delete runs, and dropped as soon as one started.
// Like Missing, it touches each chunk before it looks, so that Collect
// spares a chunk reported present.
type view struct {
	s      *Store
	txn    *badger.Txn
	epoch  uint64 // s.deletes when the transaction was opened
	opened time.Time
}

// viewMaxAge bounds how long a view keeps its transaction, which holds
// back Badger's discarding of old versions while it lives; a Put worker
// also drops its view when it waits viewIdle for the next chunk.
const (
	viewMaxAge = time.Second
	viewIdle   = 100 * time.Millisecond
)

func (s *Store) newView() *view { return &view{s: s} }

func (v *view) has(ctx context.Context, d Digest) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// Close waits for views using their transaction, and a view never
	// uses one after Close: Badger's transactions must not outlive it.
	v.s.views.RLock()
	defer v.s.views.RUnlock()
	if err := v.s.checkOpen(); err != nil {
		v.drop()
		return false, err
	}
	v.s.touches.touch(d)
	if v.txn != nil && (v.s.deletes.Load() != v.epoch || time.Since(v.opened) > viewMaxAge) {
		v.drop()
	}
	if v.txn == nil {
		v.open()
	}
	if v.txn == nil {
		// A Delete is running: look in a transaction of its own.
		m, err := v.s.missing(ctx, []Digest{d})
		return len(m) == 0, err
	}
	_, err := v.txn.Get(chunkKey(d))
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up chunk %s: %w", d.Short(), err)
	}
	return true, nil
}

// open starts the view's transaction unless a Delete is running. The
// count of Deletes is read before the count of running ones: a Delete
// raises the second before the first, so one that had not finished when
// the transaction opened is seen either as running now or, later, as a
// changed count.
func (v *view) open() {
	epoch := v.s.deletes.Load()
	if v.s.deleting.Load() != 0 {
		return
	}
	v.txn = v.s.db.NewTransaction(false)
	v.epoch = epoch
	v.opened = time.Now()
}

func (v *view) close() {
	if v.txn == nil {
		return
	}
	v.s.views.RLock()
	defer v.s.views.RUnlock()
	v.drop()
}

// drop lets go of the transaction; the caller holds s.views shared.
func (v *view) drop() {
	if v.txn == nil {
		return
	}
	select {
	case <-v.s.closed:
		// Discarding after the database closed could block for ever.
	default:
		v.txn.Discard()
	}
	v.txn = nil
}
