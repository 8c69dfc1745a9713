// The compactor's work on one pack: moving its live chunks, grouped and
// encoded into zstd frames, into new packs, and committing their new
// locations so that a chunk is readable in its old or new form, never
// neither.

package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/zstd"

	"cairn/cas/chunk"
)

// group is a run of chunks on their way to one frame.
type group struct {
	chunks []moving
	data   []byte // their bytes, concatenated
}

// moving is a chunk being moved, with what its index entry was when it
// was read.
type moving struct {
	d       Digest
	size    int
	version uint64
	from    location // zero pack for an inline chunk
	stored  int64
}

func (g *group) reset() {
	g.chunks = g.chunks[:0]
	g.data = g.data[:0]
}

// rewritePack moves the live chunks of p into cold packs, then removes p.
func (c *compactor) rewritePack(ctx context.Context, p *pack, res *CompactResult, pc pace) error {
	s := c.s
	s.packs.mu.Lock()
	size := p.size
	s.packs.mu.Unlock()
	g := &group{}
	frameMax := s.opts.CompactFrame + s.params.MaxSize
	fb := s.bp.frames.Get().(*[]byte)
	defer s.bp.putFrame(fb)
	broken := 0
	_, err := scanPack(p, size, s.params.MaxSize, frameMax, func(off int64, n int, r record) error {
		live, err := c.liveIn(p.id, off, r)
		if err != nil || len(live) == 0 {
			return err
		}
		if !c.wait(pc) {
			return ErrClosed
		}
		max := s.params.MaxSize
		if len(r.chunks) > 1 {
			max = r.frameSize()
		}
		frame, err := s.codec.decodeFrame((*fb)[:0], r.codec, r.payload, max)
		if err != nil || len(frame) != r.frameSize() {
			s.log.Error("chunk does not decode; left where it is", "pack", packName(p.id), "offset", off, "err", err)
			broken++
			return nil
		}
		*fb = frame
		o := 0
		for i, rc := range r.chunks {
			b := frame[o : o+rc.size]
			o += rc.size
			m, ok := live[i]
			if !ok {
				continue
			}
			if chunk.Sum(b) != rc.d {
				s.log.Error("chunk does not match its digest; left where it is", "chunk", rc.d.Short(), "pack", packName(p.id))
				broken++
				continue
			}
			g.chunks = append(g.chunks, m)
			g.data = append(g.data, b...)
			if len(g.data) >= s.opts.CompactFrame {
				if err := c.flushGroup(ctx, g, res, pc); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = c.flushGroup(ctx, g, res, pc)
	}
	if err != nil {
		return err
	}
	// The moves must be on disk before the old copies go.
	if err := s.sync.Sync(); err != nil {
		return err
	}
	c.at("moved")
	s.mu.Lock()
	s.packs.mu.Lock()
	empty := p.liveChunks == 0 && p.pending == 0
	live := p.liveChunks
	s.packs.mu.Unlock()
	s.mu.Unlock()
	if !empty {
		// Chunks that do not decode or verify stay, for Scrub to report
		// and repair to replace; do not pick this pack again until the
		// store reopens.
		c.stuckPacks[p.id] = true
		s.log.Warn("pack keeps chunks it could not move", "pack", packName(p.id), "chunks", live, "broken", broken)
		return nil
	}
	return c.dropPack(p.id, res)
}

// dropPack removes an empty pack: its file, then its record.
func (c *compactor) dropPack(id uint64, res *CompactResult) error {
	s := c.s
	if err := s.packs.remove(id); err != nil {
		return err
	}
	c.at("removed")
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(packKey(id)) }); err != nil {
		return fmt.Errorf("drop pack record: %w", err)
	}
	res.Packs++
	return nil
}

// liveIn returns, by position in r, the chunks of the record at off in
// pack id that the index still points to there.
func (c *compactor) liveIn(id uint64, off int64, r record) (map[int]moving, error) {
	s := c.s
	live := map[int]moving{}
	err := s.db.View(func(txn *badger.Txn) error {
		for i, rc := range r.chunks {
			item, err := txn.Get(chunkKey(rc.d))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if item.UserMeta()&metaPacked == 0 {
				continue
			}
			var l location
			if err := item.Value(func(v []byte) error {
				var err error
				l, err = parseLocation(v)
				return err
			}); err != nil {
				return err
			}
			if l.pack == id && l.off == off {
				live[i] = moving{d: rc.d, size: rc.size, version: item.Version(), from: l, stored: l.stored}
			}
		}
		return nil
	})
	return live, err
}

// moveInline moves a batch of the inline chunks a format 1 store holds
// (those larger than InlineMax) into cold packs.
func (c *compactor) moveInline(ctx context.Context, res *CompactResult, pc pace) (int64, error) {
	s := c.s
	g := &group{}
	before := res.Chunks
	budget := 8 * s.opts.CompactFrame
	var start []byte
	for budget > 0 {
		var batch []moving
		var values [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
			defer it.Close()
			n := 0
			for it.Seek(append([]byte{prefixChunk}, start...)); it.Valid() && n < s.opts.CompactFrame; it.Next() {
				item := it.Item()
				if item.UserMeta()&metaPacked != 0 || item.ValueSize() <= int64(s.opts.InlineMax) {
					continue
				}
				var d Digest
				copy(d[:], item.Key()[1:])
				v, err := item.ValueCopy(nil)
				if err != nil {
					s.log.Error("inline chunk unreadable; left where it is", "chunk", d.Short(), "err", err)
					continue
				}
				batch = append(batch, moving{d: d, version: item.Version(), stored: item.ValueSize()})
				values = append(values, v)
				n += len(v)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			break
		}
		last := batch[len(batch)-1].d
		start = append(last[:], 0) // the key after the last one seen
		for i, m := range batch {
			if !c.wait(pc) {
				return 0, ErrClosed
			}
			b, err := s.codec.decode(nil, values[i], s.params.MaxSize)
			if err != nil || chunk.Sum(b) != m.d {
				s.log.Error("inline chunk does not verify; left where it is", "chunk", m.d.Short())
				continue
			}
			m.size = len(b)
			g.chunks = append(g.chunks, m)
			g.data = append(g.data, b...)
			budget -= len(b)
			if len(g.data) >= s.opts.CompactFrame {
				if err := c.flushGroup(ctx, g, res, pc); err != nil {
					return 0, err
				}
			}
		}
	}
	if err := c.flushGroup(ctx, g, res, pc); err != nil {
		return 0, err
	}
	if len(start) == 0 {
		// Nothing left to move, though the counters said so: they were
		// off (the chunks do not verify, or were counted twice).
		s.mu.Lock()
		s.ctr.legacyChunks, s.ctr.legacyBytes = 0, 0
		s.mu.Unlock()
	}
	return res.Chunks - before, s.sync.Sync()
}

// encoder returns the compactor's zstd encoder.
func (c *compactor) encoder() (*zstd.Encoder, error) {
	s := c.s
	window := 1 << bits.Len(uint(s.opts.CompactFrame-1))
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevel(s.opts.CompactLevel)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(max(window, zstd.MinWindowSize)),
		zstd.WithEncoderCRC(false), // every read re-hashes with BLAKE3
		zstd.WithZeroFrames(true))
}

// flushGroup writes g's chunks as one frame (or raw, one record each, when
// zstd does not pay) to the cold pack, syncs it, and points the index at
// the new copies. Each chunk is written in a step of its own, pausing
// until the store is ready for pace pc.
func (c *compactor) flushGroup(ctx context.Context, g *group, res *CompactResult, pc pace) error {
	s := c.s
	if len(g.chunks) == 0 {
		return nil
	}
	defer g.reset()
	if c.enc == nil {
		var err error
		if c.enc, err = c.encoder(); err != nil {
			return err
		}
	}
	enc := c.enc
	var frame bytes.Buffer
	frame.Grow(len(g.data) / 2)
	enc.ResetContentSize(&frame, int64(len(g.data)))
	o := 0
	for _, m := range g.chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !c.wait(pc) {
			return ErrClosed
		}
		if _, err := enc.Write(g.data[o : o+m.size]); err != nil {
			return fmt.Errorf("compress: %w", err)
		}
		o += m.size
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	var buf []byte
	type rec struct{ at, n int }
	var recs []rec  // by record
	var which []int // record of each chunk
	if s.codec.pays(frame.Len(), len(g.data)) {
		rc := make([]recordChunk, len(g.chunks))
		for i, m := range g.chunks {
			rc[i] = recordChunk{d: m.d, size: m.size}
			which = append(which, 0)
		}
		buf = appendRecord(buf, CodecZstd, rc, frame.Bytes())
		recs = append(recs, rec{0, len(buf)})
	} else {
		o := 0
		for i, m := range g.chunks {
			at := len(buf)
			buf = appendRecord(buf, CodecRaw, []recordChunk{{d: m.d, size: m.size}}, g.data[o:o+m.size])
			recs = append(recs, rec{at, len(buf) - at})
			which = append(which, i)
			o += m.size
		}
	}
	cp, off, err := s.packs.appendRecords(packCold, buf)
	if err != nil {
		return err
	}
	defer s.packs.settle(cp)
	c.at("appended")
	if err := s.dataSync.Sync(); err != nil {
		return s.fail(err)
	}
	c.at("synced")
	// Split each record's length over its chunks.
	sizes := make([][]int, len(recs))
	for i, m := range g.chunks {
		sizes[which[i]] = append(sizes[which[i]], m.size)
	}
	shares := make([][]int64, len(recs))
	for r := range recs {
		shares[r] = share(int64(recs[r].n), sizes[r])
	}
	next := make([]int, len(recs))
	locs := make([]location, len(g.chunks))
	for i, m := range g.chunks {
		r := which[i]
		locs[i] = location{pack: cp.id, off: off + int64(recs[r].at), length: recs[r].n, logical: m.size, stored: shares[r][next[r]]}
		next[r]++
	}
	if err := c.commitMoves(g.chunks, locs, res); err != nil {
		return err
	}
	c.at("committed")
	return nil
}

// commitMoves points the index at the chunks' new locations, for those
// whose entry is the one the compactor read.
func (c *compactor) commitMoves(ms []moving, locs []location, res *CompactResult) error {
	s := c.s
	s.mu.Lock()
	txn := s.db.NewTransaction(true)
	next := s.ctr
	type delta struct{ chunks, bytes int64 }
	deltas := map[uint64]delta{}
	var moved CompactResult
	for i, m := range ms {
		k := chunkKey(m.d)
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue // deleted meanwhile: the new copy is garbage
		}
		if err == nil && item.Version() != m.version {
			continue // written again meanwhile
		}
		if err == nil {
			err = txn.SetEntry(badger.NewEntry(k, locs[i].marshal()).WithMeta(metaPacked))
		}
		if err != nil {
			s.mu.Unlock()
			txn.Discard()
			return fmt.Errorf("move chunk %s: %w", m.d.Short(), err)
		}
		if m.from.pack != 0 {
			x := deltas[m.from.pack]
			deltas[m.from.pack] = delta{x.chunks - 1, x.bytes - m.stored}
		} else {
			next.legacyChunks--
			next.legacyBytes -= m.stored
		}
		x := deltas[locs[i].pack]
		deltas[locs[i].pack] = delta{x.chunks + 1, x.bytes + locs[i].stored}
		next.StoredBytes += locs[i].stored - m.stored
		moved.Chunks++
		moved.Logical += int64(m.size)
		moved.Before += m.stored
		moved.After += locs[i].stored
	}
	err := txn.Set(keyStats, next.marshal())
	var packs []*pack
	for id := range deltas {
		if p := s.openPack(id); p != nil {
			packs = append(packs, p)
		}
	}
	for _, p := range packs {
		x := deltas[p.id]
		after := pack{id: p.id, kind: p.kind, liveChunks: p.liveChunks + x.chunks, liveBytes: p.liveBytes + x.bytes}
		if err == nil {
			err = txn.Set(packKey(p.id), marshalPackRecord(&after))
		}
	}
	if err != nil {
		s.mu.Unlock()
		txn.Discard()
		return fmt.Errorf("move chunks: %w", err)
	}
	// Commits reach Badger in the order they are queued here, under s.mu,
	// so the counters go with them; a failed commit fails the store.
	for _, p := range packs {
		x := deltas[p.id]
		s.wr.addLive(p, x.chunks, x.bytes)
	}
	s.ctr = next
	// A move does not count as a write SyncWrites must cover: a chunk is
	// present, and on disk, before and after it, whether or not a crash
	// keeps the move (the old copy stays until the index is synced).
	done := make(chan error, 1)
	txn.CommitWith(func(err error) { done <- err })
	s.mu.Unlock()
	if err := <-done; err != nil {
		return s.fail(fmt.Errorf("move chunks: %w", err))
	}
	res.Chunks += moved.Chunks
	res.Logical += moved.Logical
	res.Before += moved.Before
	res.After += moved.After
	return nil
}

// step calls the test hook, if any, at a step of a move.
func (c *compactor) at(name string) {
	s := c.s
	if s.opts.hook != nil {
		s.opts.hook(name)
	}
}
