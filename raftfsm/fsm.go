package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"cairn/cas"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/hashicorp/raft"
)

// batchWrites and batchBytes bound what one Badger transaction collects
// before ApplyBatch commits it and starts another. Badger refuses a
// transaction past about 209,000 writes or 20 MB (15% of the 128 MiB
// memtable, see openStateDB); these leave room for one more command of the
// common large kind, a file of MaxChunksPerFile new chunks (about 65,000
// to 131,000 writes and 7 MB).
//
// A command that does not fit in what is left of a transaction is applied
// again in a transaction of its own, after the entries before it are
// committed. One that does not fit even alone (overwriting a file of tens
// of thousands of chunks with another, say) is refused with ErrTooLarge.
// What a command writes depends on the state and the command only, and
// the limit on the Badger options fixed in openStateDB, so every node
// refuses the same commands: those options are part of the format.
const (
	batchWrites = 20000
	batchBytes  = 4 << 20
	// txnReserve is kept free in every transaction for the stats and the
	// applied index that its commit writes.
	txnReserveWrites = 16
	txnReserveBytes  = 64 << 10
)

// ErrFailed means the state database failed a write: the node applies
// nothing more until it is restarted, when Raft replays what it missed.
var ErrFailed = errors.New("raftfsm: state store failed")

// fsm is the replicated state machine. Raft calls Apply, ApplyBatch,
// Snapshot and Restore from one goroutine; queries go through State and
// may run concurrently with them.
type fsm struct {
	dir string
	log *slog.Logger

	mu      sync.RWMutex // guards db and current against Restore's swap
	db      *badger.DB
	current string // name of the live state folder under dir
	// wmu is held while entries are applied or a snapshot restored, so
	// that releaseMemtable never closes the database under them.
	wmu sync.Mutex
	// written counts the bytes committed to db since it was opened: about
	// what its memtable holds (see releaseMemtable).
	written atomic.Int64

	amu     sync.Mutex
	applied uint64
	term    uint64
	notify  chan struct{} // closed and replaced at each applied batch
	failed  error

	// txnWrites and txnBytes, when set, replace the limits of a state
	// transaction that Badger's options give; tests lower them.
	txnWrites, txnBytes int
	// observeBatch, when set, is called with the size of every batch.
	observeBatch func(entries int)
	// pacing measures entries and snapshots to pace snapshots (pacing.go).
	pacing pacing
}

func openFSM(dir string, log *slog.Logger) (*fsm, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f := &fsm{dir: dir, log: log, notify: make(chan struct{}), pacing: pacing{done: make(chan struct{}, 1)}}
	cur, err := os.ReadFile(filepath.Join(dir, "CURRENT"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		f.current = "state-1"
		if err := writeCurrent(dir, f.current); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("read state pointer: %w", err)
	default:
		f.current = strings.TrimSpace(string(cur))
	}
	// Folders other than the current one are leftovers of an interrupted
	// Restore.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "state-") && e.Name() != f.current {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	if f.db, err = openStateDB(filepath.Join(dir, f.current), log); err != nil {
		return nil, err
	}
	if f.applied, f.term, err = readApplied(f.db); err != nil {
		f.db.Close()
		return nil, err
	}
	return f, nil
}

// openStateDB opens a state database. Commits are not synced one by one:
// every entry is durable in the Raft log before it is applied, and the
// state is derived from the log. After a power loss the database comes
// back as a consistent prefix of its commits (Badger truncates its log at
// the first torn entry) with the applied index that goes with it, and
// Raft replays the rest. What must never happen is a Raft snapshot of
// state that is not on disk, so Snapshot syncs first; a state that ends
// up behind the newest snapshot is restored from it at start-up.
func openStateDB(dir string, log *slog.Logger) (*badger.DB, error) {
	o := badger.DefaultOptions(dir).
		WithLogger(cas.BadgerLogger(log)).
		WithSyncWrites(false).
		WithMemTableSize(128 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(32 << 20).
		WithCompression(options.Snappy).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithValueLogFileSize(256 << 20).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
	db, err := badger.Open(o)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", dir, err)
	}
	return db, nil
}

func writeCurrent(dir, name string) error {
	tmp := filepath.Join(dir, "CURRENT.tmp")
	if err := writeFileSync(tmp, []byte(name+"\n")); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "CURRENT")); err != nil {
		return err
	}
	return syncDir(dir)
}

func writeFileSync(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func readApplied(db *badger.DB) (index, term uint64, err error) {
	err = db.View(func(t *badger.Txn) error {
		index, term, err = appliedIn(t)
		return err
	})
	if err != nil {
		err = fmt.Errorf("read applied index: %w", err)
	}
	return index, term, err
}

func appliedValue(index, term uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, index), term)
}

// Applied returns the index and term of the last entry applied.
func (f *fsm) Applied() (uint64, uint64) {
	f.amu.Lock()
	defer f.amu.Unlock()
	return f.applied, f.term
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: it applies a batch of entries in
// as few transactions as it can, each one recording the index of its last
// entry, so that the state and its applied index are always written
// together. Entries at or below the applied index (a replay after a
// restart) are skipped.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	if f.observeBatch != nil {
		f.observeBatch(len(logs))
	}
	f.pacing.applied(logs)
	results := make([]any, len(logs))
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.amu.Lock()
	applied, term, failed := f.applied, f.term, f.failed
	f.amu.Unlock()
	if failed != nil {
		for i := range results {
			results[i] = Result{Index: logs[i].Index, Err: failed}
		}
		return results
	}
	f.mu.RLock()
	db := f.db
	f.mu.RUnlock()

	maxWrites, maxBytes := f.txnWrites, f.txnBytes
	if maxWrites == 0 {
		maxWrites = int(db.MaxBatchCount()) - txnReserveWrites
	}
	if maxBytes == 0 {
		maxBytes = int(db.MaxBatchSize()) - txnReserveBytes
	}
	var t *txn
	first := 0 // first entry of the open transaction
	open := func(i int) {
		t = &txn{t: db.NewTransaction(true), tally: tally{maxWrites: maxWrites, maxBytes: maxBytes}}
		first = i
	}
	// committed is the applied index and term the database holds.
	committed, committedTerm := applied, term
	split := -1 // an entry that must start a transaction of its own
	commit := func(upto int) error {
		if t == nil {
			return nil
		}
		defer func() { t.t.Discard(); t = nil }()
		t.tally.maxWrites = 0 // the reserve is for these two writes
		if err := t.saveStats(); err != nil {
			return err
		}
		if err := t.set([]byte{tApplied}, appliedValue(applied, term)); err != nil {
			return err
		}
		if err := t.t.Commit(); err != nil {
			return fmt.Errorf("commit state: %w", err)
		}
		f.written.Add(int64(t.tally.bytes))
		first = upto
		committed, committedTerm = applied, term
		return nil
	}
	fail := func(i int, err error) []any {
		err = fmt.Errorf("%w: %v", ErrFailed, err)
		f.log.Error("state store failed; restart the node to recover", "err", err, "index", logs[i].Index)
		for j := first; j < len(logs); j++ {
			results[j] = Result{Index: logs[j].Index, Err: err}
		}
		f.settle(func() {
			f.failed = err
			// Transactions committed before the failure hold their entries.
			f.applied, f.term = committed, committedTerm
		})
		return results
	}
	for i := 0; i < len(logs); i++ {
		l := logs[i]
		if l.Index <= applied {
			results[i] = Result{Index: l.Index}
			continue
		}
		if t != nil && (i == split || t.tally.writes > batchWrites || t.tally.bytes > batchBytes) {
			if err := commit(i); err != nil {
				return fail(i, err)
			}
		}
		if t == nil {
			open(i)
		}
		applied, term = l.Index, l.Term
		if l.Type != raft.LogCommand {
			results[i] = Result{Index: l.Index}
			continue
		}
		cmd, err := Decode(l.Data)
		if err != nil {
			// Every node holds the same log: a command that does not
			// decode is a bug, and applying around it would diverge.
			panic(fmt.Sprintf("raftfsm: entry %d: %v", l.Index, err))
		}
		t.index = l.Index
		res, err := t.apply(cmd)
		if errors.Is(err, errTxnFull) || errors.Is(err, badger.ErrTxnTooBig) {
			t.t.Discard()
			t, applied, term = nil, committed, committedTerm
			if i > first {
				// Apply the entries before this one again, alone in
				// their transaction, and this one in a fresh one.
				split, i = i, first-1
				continue
			}
			// Alone in a transaction, it still does not fit.
			results[i] = Result{Index: l.Index, Err: rejectf(ErrTooLarge, "%v writes more than a state transaction holds", cmd.Op())}
			open(i)
			applied, term = l.Index, l.Term
			continue
		}
		if err != nil {
			return fail(i, err)
		}
		results[i] = res
	}
	if err := commit(len(logs)); err != nil {
		return fail(first, err)
	}
	f.settle(func() { f.applied, f.term = applied, term })
	return results
}

// settle changes the applied index, its term or the failure with set,
// under their lock, and wakes every waiter, who must see the change.
func (f *fsm) settle(set func()) {
	f.amu.Lock()
	defer f.amu.Unlock()
	set()
	close(f.notify)
	f.notify = make(chan struct{})
}

// waitChan returns the applied index and a channel closed at the next
// applied batch.
func (f *fsm) waitChan() (uint64, <-chan struct{}) {
	f.amu.Lock()
	defer f.amu.Unlock()
	return f.applied, f.notify
}

func (f *fsm) err() error {
	f.amu.Lock()
	defer f.amu.Unlock()
	return f.failed
}

// view runs fn in a read transaction of the current state.
func (f *fsm) view(fn func(*txn) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	return f.db.View(func(t *badger.Txn) error { return fn(&txn{t: t}) })
}

func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	f.db = nil
	return err
}

// nextStateName returns the folder name after state-N.
func nextStateName(cur string) string {
	n, _ := strconv.Atoi(strings.TrimPrefix(cur, "state-"))
	return "state-" + strconv.Itoa(n+1)
}

var _ raft.BatchingFSM = (*fsm)(nil)
var _ io.Closer = (*snapshot)(nil)
