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

// Scrub reads every chunk, decodes it and checks it against its digest.
// It calls fn with the error of each chunk that fails (a *CorruptError);
// if fn returns an error, Scrub stops and returns it.
func (s *Store) Scrub(ctx context.Context, fn func(*CorruptError) error) (ScrubResult, error) {
	var res ScrubResult
	if err := s.checkOpen(); err != nil {
		return res, err
	}
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
				res.Corrupt++
				if err := fn(cerr); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return res, err
}

// ReclaimResult reports how much disk space Reclaim gave back.
type ReclaimResult struct {
	Rewritten int           `json:"rewritten"` // value log files rewritten
	Before    int64         `json:"before"`    // bytes on disk before
	After     int64         `json:"after"`
	Took      time.Duration `json:"took"`
}

// Reclaim gives back the disk space of deleted chunks. Badger keeps
// deleted values in its value log until a file is rewritten; Reclaim
// flushes the in-memory table so that the deletions reach the LSM tree,
// compacts it so that Badger learns which values are garbage, then
// rewrites every value log file that is at least discardRatio garbage
// (0 means 0.5). Writes wait while the memory table is flushed.
func (s *Store) Reclaim(ctx context.Context, discardRatio float64) (ReclaimResult, error) {
	start := time.Now()
	var res ReclaimResult
	if err := s.checkOpen(); err != nil {
		return res, err
	}
	if discardRatio == 0 {
		discardRatio = 0.5
	}
	lsm, vlog := s.db.Size()
	res.Before = lsm + vlog
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
			break
		}
		if err != nil {
			return res, fmt.Errorf("reclaim: value log gc: %w", err)
		}
		res.Rewritten++
	}
	lsm, vlog = s.db.Size()
	res.After = lsm + vlog
	res.Took = time.Since(start)
	s.log.Info("space reclaimed", "rewritten", res.Rewritten, "before", res.Before, "after", res.After)
	return res, nil
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
			var d Digest
			copy(d[:], it.Item().Key()[1:])
			if err := fn(d, it.Item().ValueSize()); err != nil {
				return err
			}
		}
		return nil
	})
}
