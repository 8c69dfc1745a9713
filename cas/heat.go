package cas

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Keys of the access table: prefixAccess, then a chunk's digest. The
// value is when a read last used the chunk, or when Cold first saw it
// (Unix seconds, uvarint). Reads never write it: they note the chunks
// they used in memory, and Cold writes those notes in batches. A note
// lost to a crash makes a chunk look colder than it is, which costs a
// fetch from the cold tier later, never data.
const prefixAccess = 'a'

// maxHeatNotes bounds the reads noted between two passes of Cold; reads
// past it are not noted (the same cost as a crash).
const maxHeatNotes = 1 << 18

func accessKey(d Digest) []byte {
	k := chunkKey(d)
	k[0] = prefixAccess
	return k
}

// heat notes the chunks reads used since Cold last ran.
type heat struct {
	mu    sync.Mutex
	notes map[Digest]struct{}
}

func (h *heat) note(d Digest) {
	h.mu.Lock()
	if h.notes == nil {
		h.notes = make(map[Digest]struct{})
	}
	if len(h.notes) < maxHeatNotes {
		h.notes[d] = struct{}{}
	}
	h.mu.Unlock()
}

func (h *heat) take() map[Digest]struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.notes
	h.notes = nil
	return n
}

// Cold returns up to limit chunks of this store, in digest order after
// after, that no read used since before, and whether the walk reached the
// end. It first records the reads noted since its last call. A chunk it
// meets for the first time counts as read now: a chunk is cold once it
// has gone unread for a while since Cold first saw it.
func (s *Store) Cold(ctx context.Context, before time.Time, after Digest, limit int) (cold []Digest, done bool, err error) {
	if err := s.checkOpen(); err != nil {
		return nil, false, err
	}
	now := s.opts.Now()
	if err := s.recordReads(s.heat.take(), now); err != nil {
		return nil, false, err
	}
	first := map[Digest]struct{}{} // chunks without an access record yet
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		start := chunkKey(after)
		for it.Seek(start); it.Valid(); it.Next() {
			k := it.Item().Key()
			if string(k) == string(start) {
				continue
			}
			if len(cold) >= limit {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			var d Digest
			copy(d[:], k[1:])
			item, err := txn.Get(accessKey(d))
			switch {
			case err == badger.ErrKeyNotFound:
				first[d] = struct{}{}
				continue
			case err != nil:
				return err
			}
			var last uint64
			if err := item.Value(func(v []byte) error {
				var n int
				if last, n = binary.Uvarint(v); n <= 0 {
					return fmt.Errorf("access record of chunk %s: malformed", d.Short())
				}
				return nil
			}); err != nil {
				return err
			}
			if int64(last) < before.Unix() {
				cold = append(cold, d)
			}
		}
		done = true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("cold chunks: %w", err)
	}
	if err := s.recordReads(first, now); err != nil {
		return nil, false, err
	}
	return cold, done, nil
}

// recordReads writes the access records of the given chunks, a batch
// per transaction. A chunk deleted meanwhile gets none (its record went
// with it, under the same lock).
func (s *Store) recordReads(ds map[Digest]struct{}, at time.Time) error {
	v := binary.AppendUvarint(nil, uint64(at.Unix()))
	batch := make([]Digest, 0, 1024)
	flush := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		err := s.db.Update(func(txn *badger.Txn) error {
			for _, d := range batch {
				if _, err := txn.Get(chunkKey(d)); err == badger.ErrKeyNotFound {
					continue
				} else if err != nil {
					return err
				}
				if err := txn.Set(accessKey(d), v); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("record reads: %w", err)
		}
		return nil
	}
	for d := range ds {
		if batch = append(batch, d); len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		return flush()
	}
	return nil
}
