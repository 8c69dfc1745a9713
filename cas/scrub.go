package cas

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
)

// ScrubResult counts what Scrub visited.
type ScrubResult struct {
	Chunks  int64 `json:"chunks"`
	Bytes   int64 `json:"bytes"` // logical bytes verified
	Corrupt int64 `json:"corrupt"`
}

// Scrub reads every chunk, decodes it and checks it against its digest,
// without the cache. It calls fn with the error of each chunk that fails
// (a *CorruptError); if fn returns an error, Scrub stops and returns it.
// Inline chunks are read through the index; packs are read in order, a
// frame at a time, and a chunk the index places where no record holds it
// is reported too.
func (s *Store) Scrub(ctx context.Context, fn func(*CorruptError) error) (ScrubResult, error) {
	var res ScrubResult
	if err := s.checkOpen(); err != nil {
		return res, err
	}
	report := func(cerr *CorruptError) error {
		res.Corrupt++
		return fn(cerr)
	}
	// Inline chunks, and how many chunks each pack should hold.
	want := map[uint64]int64{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		var buf []byte
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			var d Digest
			copy(d[:], item.Key()[1:])
			res.Chunks++
			var cerr *CorruptError
			err := item.Value(func(v []byte) error {
				if item.UserMeta()&metaPacked != 0 {
					l, err := parseLocation(v)
					if err != nil {
						cerr = &CorruptError{Digest: d, Reason: err.Error()}
					} else {
						want[l.pack]++
					}
					return nil
				}
				b, err := s.codec.decode(buf[:0], v, s.params.MaxSize)
				if err != nil {
					cerr = &CorruptError{Digest: d, Reason: err.Error()}
					return nil
				}
				buf = b
				if got := chunk.Sum(b); got != d {
					cerr = &CorruptError{Digest: d, Reason: "content hashes to " + got.String()}
					return nil
				}
				res.Bytes += int64(len(b))
				return nil
			})
			if err != nil {
				cerr = &CorruptError{Digest: d, Reason: err.Error()}
			}
			if cerr != nil {
				if err := report(cerr); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	for id, n := range want {
		if err := s.scrubPack(ctx, id, n, &res, report); err != nil {
			return res, err
		}
	}
	return res, nil
}

// scrubPack verifies the n chunks the index places in pack id, reading
// the pack in order.
func (s *Store) scrubPack(ctx context.Context, id uint64, n int64, res *ScrubResult, report func(*CorruptError) error) error {
	seen := map[Digest]bool{}
	p := s.packs.acquire(id)
	if p != nil {
		s.packs.mu.Lock()
		size := p.size
		s.packs.mu.Unlock()
		var frame []byte
		_, err := scanPack(p, size, s.params.MaxSize, s.opts.CompactFrame+s.params.MaxSize, func(off int64, _ int, r record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			live, err := s.cmp.liveIn(id, off, r)
			if err != nil || len(live) == 0 {
				return err
			}
			max := s.params.MaxSize
			if len(r.chunks) > 1 {
				max = r.frameSize()
			}
			f, derr := s.codec.decodeFrame(frame[:0], r.codec, r.payload, max)
			if derr == nil && len(f) != r.frameSize() {
				derr = fmt.Errorf("frame decodes to %d bytes, record says %d", len(f), r.frameSize())
			}
			frame = f
			o := 0
			for i, c := range r.chunks {
				if _, ok := live[i]; !ok {
					o += c.size
					continue
				}
				seen[c.d] = true
				var cerr *CorruptError
				switch {
				case derr != nil:
					cerr = &CorruptError{Digest: c.d, Reason: derr.Error()}
				case chunk.Sum(f[o:o+c.size]) != c.d:
					cerr = &CorruptError{Digest: c.d, Reason: "content does not hash to its digest"}
				default:
					res.Bytes += int64(c.size)
				}
				o += c.size
				if cerr != nil {
					if err := report(cerr); err != nil {
						return err
					}
				}
			}
			return nil
		})
		s.packs.release(p)
		if err != nil {
			return err
		}
	}
	if int64(len(seen)) >= n {
		return nil
	}
	// Some entries point where no readable record holds their chunk.
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if item.UserMeta()&metaPacked == 0 {
				continue
			}
			var d Digest
			copy(d[:], item.Key()[1:])
			if seen[d] {
				continue
			}
			var l location
			if err := item.Value(func(v []byte) error {
				var err error
				l, err = parseLocation(v)
				return err
			}); err != nil || l.pack != id {
				continue
			}
			if err := report(&CorruptError{Digest: d, Reason: fmt.Sprintf("no record of pack %s holds it", packName(id))}); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReclaimResult reports how much disk space Reclaim gave back.
type ReclaimResult struct {
	Rewritten int           `json:"rewritten"` // pack and value log files rewritten
	Before    int64         `json:"before"`    // bytes on disk before
	After     int64         `json:"after"`
	Took      time.Duration `json:"took"`
}

// Reclaim gives back the disk space of deleted chunks now, instead of
// when the compactor next finds the store idle: it rewrites every pack
// that is at least discardRatio garbage (0 means Options.GarbageRatio),
// removing the packs that hold nothing any more, and has Badger rewrite
// its value log files (which only a format 1 store fills) that are at
// least half garbage.
func (s *Store) Reclaim(ctx context.Context, discardRatio float64) (ReclaimResult, error) {
	start := time.Now()
	var res ReclaimResult
	if err := s.checkOpen(); err != nil {
		return res, err
	}
	if discardRatio == 0 {
		discardRatio = s.opts.GarbageRatio
	}
	lsm, vals := s.DiskUsage()
	res.Before = lsm + vals
	s.cmp.mu.Lock()
	var cr CompactResult
	for _, id := range s.packs.ids() {
		p := s.openPack(id)
		if p == nil {
			continue
		}
		s.packs.mu.Lock()
		body := max(1, p.size-int64(len(packMagic)))
		worth := !p.removed && p.pending == 0 && float64(p.garbage()) >= discardRatio*float64(body)
		current := s.packs.cur[p.kind] == p
		s.packs.mu.Unlock()
		if !worth {
			continue
		}
		if current {
			s.packs.seal(p.kind)
		}
		if err := s.cmp.rewritePack(ctx, p, &cr, paceNow); err != nil {
			s.cmp.mu.Unlock()
			return res, fmt.Errorf("reclaim: %w", err)
		}
		res.Rewritten++
	}
	s.cmp.mu.Unlock()
	vr, err := s.reclaimValueLog(ctx, max(discardRatio, 0.5))
	if err != nil {
		return res, err
	}
	res.Rewritten += vr.Rewritten
	lsm, vals = s.DiskUsage()
	res.After = lsm + vals
	res.Took = time.Since(start)
	s.log.Info("space reclaimed", "rewritten", res.Rewritten, "before", res.Before, "after", res.After)
	return res, nil
}

// reclaimValueLog gives back the space of Badger's value log files that
// are at least discardRatio garbage. Badger learns which values are
// garbage only when its tree is compacted, so the memtable is flushed
// (writes wait meanwhile) and the tree flattened first.
func (s *Store) reclaimValueLog(ctx context.Context, discardRatio float64) (ReclaimResult, error) {
	var res ReclaimResult
	// Writing then dropping a sentinel key is the one way Badger offers
	// to flush the memtable on demand.
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyFlush, nil) }); err != nil {
		return res, fmt.Errorf("reclaim: %w", err)
	}
	if err := s.db.DropPrefix(keyFlush); err != nil {
		return res, fmt.Errorf("reclaim: flush: %w", err)
	}
	if err := s.db.Flatten(2); err != nil {
		return res, fmt.Errorf("reclaim: compact: %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		err := s.db.RunValueLogGC(discardRatio)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("reclaim: value log gc: %w", err)
		}
		res.Rewritten++
	}
}

// Walk calls fn with the digest and stored size of every chunk, in digest
// order, without reading the payloads. If fn returns an error, Walk stops
// and returns it.
func (s *Store) Walk(ctx context.Context, fn func(d Digest, stored int64) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			var d Digest
			copy(d[:], item.Key()[1:])
			stored := item.ValueSize()
			if item.UserMeta()&metaPacked != 0 {
				if err := item.Value(func(v []byte) error {
					l, err := parseLocation(v)
					stored = l.stored
					return err
				}); err != nil {
					return fmt.Errorf("walk: chunk %s: %w", d.Short(), err)
				}
			}
			if err := fn(d, stored); err != nil {
				return err
			}
		}
		return nil
	})
}
