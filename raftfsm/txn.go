package raftfsm

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// txn is a Badger transaction with the helpers that applying a command
// needs. Badger errors inside it are storage failures, not rejections: they
// are returned as errors, never put in a Result.
type txn struct {
	t      *badger.Txn
	index  uint64 // Raft index of the entry being applied
	tally  tally
	stats  Stats
	loaded bool
}

// tally counts a transaction's writes, to split batches before Badger's
// limits.
type tally struct {
	writes int // entries written
	bytes  int // their size as Badger counts it against its limit
	// maxWrites and maxBytes, when set, are the limits past which a write
	// fails with errTxnFull.
	maxWrites, maxBytes int
}

// errTxnFull means a write would take a transaction past its limits.
var errTxnFull = errors.New("raftfsm: state transaction full")

// count adds a write to the tally.
func (t *tally) count(k, v []byte) error {
	t.writes++
	t.bytes += txnEntrySize(k, v)
	if t.maxWrites > 0 && (t.writes > t.maxWrites || t.bytes > t.maxBytes) {
		return errTxnFull
	}
	return nil
}

// txnEntrySize is what Badger adds to a transaction's size for one write:
// key, value (only a pointer to it when the value log takes it), two meta
// bytes and the version.
func txnEntrySize(k, v []byte) int {
	if len(v) < 1<<20 { // Badger's default value threshold
		return len(k) + len(v) + 2 + 10
	}
	return len(k) + 12 + 2 + 10
}

func (x *txn) getRaw(k []byte) ([]byte, bool, error) {
	item, err := x.t.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read state %q: %w", k, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("read state %q: %w", k, err)
	}
	return v, true, nil
}

func (x *txn) get(k []byte, v any) (bool, error) {
	b, ok, err := x.getRaw(k)
	if !ok || err != nil {
		return ok, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode state %q: %w", k, err)
	}
	return true, nil
}

func (x *txn) set(k, v []byte) error {
	if err := x.tally.count(k, v); err != nil {
		return err
	}
	if err := x.t.Set(k, v); err != nil {
		return fmt.Errorf("write state %q: %w", k, err)
	}
	return nil
}

func (x *txn) put(k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state %q: %w", k, err)
	}
	return x.set(k, b)
}

func (x *txn) del(k []byte) error {
	if err := x.tally.count(k, nil); err != nil {
		return err
	}
	if err := x.t.Delete(k); err != nil {
		return fmt.Errorf("delete state %q: %w", k, err)
	}
	return nil
}

// keys returns up to limit keys (limit <= 0: all) that start with prefix,
// beginning at from (nil: the prefix itself).
func (x *txn) keys(prefix, from []byte, limit int) ([][]byte, error) {
	it := x.t.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	if from == nil {
		from = prefix
	}
	var out [][]byte
	for it.Seek(from); it.Valid(); it.Next() {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, it.Item().KeyCopy(nil))
	}
	return out, nil
}

func (x *txn) loadStats() (*Stats, error) {
	if !x.loaded {
		if _, err := x.get([]byte{tStats}, &x.stats); err != nil {
			return nil, err
		}
		x.loaded = true
	}
	return &x.stats, nil
}

func (x *txn) saveStats() error {
	if !x.loaded {
		return nil
	}
	return x.put([]byte{tStats}, x.stats)
}
