package cas

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Delete removes the given chunks; digests the store lacks are ignored.
// The space of chunks in packs comes back when the compactor rewrites or
// removes the packs they were in (see Options.GarbageRatio), without
// being asked.
func (s *Store) Delete(ctx context.Context, ds ...Digest) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.deleting.Add(1) // before deletes: see view.open
	s.deletes.Add(1)
	defer s.deleting.Add(-1)
	const batch = 1024
	for len(ds) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(batch, len(ds))
		if err := s.deleteBatch(ds[:n]); err != nil {
			return err
		}
		ds = ds[n:]
	}
	if err := s.sync.Sync(); err != nil {
		return err
	}
	s.cmp.kick()
	return nil
}

func (s *Store) deleteBatch(ds []Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.ctr
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	type delta struct{ chunks, bytes int64 }
	deltas := map[*pack]delta{}
	for _, d := range ds {
		k := chunkKey(d)
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete chunk %s: %w", d.Short(), err)
		}
		var logical, stored int64
		if item.UserMeta()&metaPacked != 0 {
			var l location
			err := item.Value(func(v []byte) error {
				var err error
				l, err = parseLocation(v)
				return err
			})
			if err != nil {
				return fmt.Errorf("delete chunk %s: %w", d.Short(), err)
			}
			logical, stored = int64(l.logical), l.stored
			if p := s.openPack(l.pack); p != nil {
				x := deltas[p]
				deltas[p] = delta{x.chunks - 1, x.bytes - l.stored}
			}
		} else {
			stored = item.ValueSize()
			if err := item.Value(func(v []byte) error {
				n, err := s.codec.logicalSize(v, s.params.MaxSize)
				logical = n
				return err
			}); err != nil {
				// A corrupt value still goes; its logical size is unknown,
				// so take the stored one.
				logical = stored - 1
			}
			if stored > int64(s.opts.InlineMax) {
				next.legacyChunks--
				next.legacyBytes -= stored
			}
		}
		if err := txn.Delete(k); err != nil {
			return fmt.Errorf("delete chunk %s: %w", d.Short(), err)
		}
		if err := txn.Delete(accessKey(d)); err != nil {
			return fmt.Errorf("delete chunk %s: %w", d.Short(), err)
		}
		s.rd.cache.drop(d)
		next.Chunks--
		next.LogicalBytes -= logical
		next.StoredBytes -= stored
	}
	if err := txn.Set(keyStats, next.marshal()); err != nil {
		return err
	}
	for p, x := range deltas {
		after := pack{id: p.id, kind: p.kind, liveChunks: p.liveChunks + x.chunks, liveBytes: p.liveBytes + x.bytes}
		if err := txn.Set(packKey(p.id), marshalPackRecord(&after)); err != nil {
			return err
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("delete chunks: %w", err)
	}
	for p, x := range deltas {
		s.wr.addLive(p, x.chunks, x.bytes)
	}
	s.ctr = next
	return nil
}

// openPack returns the open pack id, or nil.
func (s *Store) openPack(id uint64) *pack {
	s.packs.mu.Lock()
	defer s.packs.mu.Unlock()
	return s.packs.packs[id]
}
