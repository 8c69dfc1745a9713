package cas

import (
	"encoding/binary"
	"errors"
	"fmt"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
)

// loadMeta reads the store's format and counters, upgrades a format 1
// store, and matches the pack table with the pack files found.
func (s *Store) loadMeta() error {
	upgrade := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyFormat)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			upgrade = true // a new store
		case err != nil:
			return fmt.Errorf("read format: %w", err)
		default:
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read format: %w", err)
			}
			if len(v) != 2 || (v[0] != 1 && v[0] != storeFormat) {
				return fmt.Errorf("cas: store format %v not supported (want %d)", v, storeFormat)
			}
			upgrade = v[0] != storeFormat
		}
		item, err = txn.Get(keyStats)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stats: %w", err)
		}
		return item.Value(func(v []byte) error {
			complete, err := s.ctr.unmarshal(v)
			if err == nil && !complete {
				upgrade = true
			}
			return err
		})
	})
	if err != nil {
		return err
	}
	if upgrade {
		if err := s.upgrade(); err != nil {
			return err
		}
	}
	return s.loadPacks()
}

// upgrade writes format 2 and the counters of inline chunks the compactor
// must move to packs (format 1 stored every chunk inline).
func (s *Store) upgrade() error {
	var legacyChunks, legacyBytes int64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if item.UserMeta()&metaPacked == 0 && item.ValueSize() > int64(s.opts.InlineMax) {
				legacyChunks++
				legacyBytes += item.ValueSize()
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upgrade store: %w", err)
	}
	s.ctr.legacyChunks, s.ctr.legacyBytes = legacyChunks, legacyBytes
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(keyFormat, []byte{storeFormat, chunk.Format}); err != nil {
			return err
		}
		return txn.Set(keyStats, s.ctr.marshal())
	})
	if err != nil {
		return fmt.Errorf("upgrade store: %w", err)
	}
	if legacyChunks > 0 {
		s.log.Info("store upgraded to format 2", "inline_chunks_to_move", legacyChunks, "bytes", legacyBytes)
	}
	return s.db.Sync()
}

// loadPacks reads the pack table into the open packs. A pack file with no
// record holds nothing the index points to (a pack's record is written
// with the first entry pointing into it): a crash left it, and it goes. A
// record without a file is kept, and its chunks read as corrupt, when the
// index still points into it.
func (s *Store) loadPacks() error {
	found := map[uint64]bool{}
	var dropRecords [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixPack}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if len(item.Key()) != 9 {
				continue
			}
			id := binary.BigEndian.Uint64(item.Key()[1:])
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read pack table: %w", err)
			}
			kind, chunks, bytes, err := parsePackRecord(v)
			if err != nil {
				return fmt.Errorf("pack %s: %w", packName(id), err)
			}
			s.packs.mu.Lock()
			p := s.packs.packs[id]
			if p != nil {
				p.kind, p.liveChunks, p.liveBytes = kind, chunks, bytes
				found[id] = true
			}
			s.packs.next = max(s.packs.next, id+1)
			s.packs.mu.Unlock()
			switch {
			case p == nil && chunks == 0:
				dropRecords = append(dropRecords, item.KeyCopy(nil))
			case p == nil:
				s.log.Error("pack file missing; its chunks will read as corrupt", "pack", packName(id), "chunks", chunks)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range s.packs.ids() {
		if !found[id] {
			if err := s.packs.remove(id); err != nil {
				return err
			}
		}
	}
	if len(dropRecords) == 0 {
		return nil
	}
	return s.db.Update(func(txn *badger.Txn) error {
		for _, k := range dropRecords {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
