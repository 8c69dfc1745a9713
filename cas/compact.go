package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/zstd"
)

// The compactor re-encodes chunks into their at-rest form: Put writes new
// chunks in the fast codec (S2) to hot packs; the compactor, when the
// store is idle, reads the hot packs in order, verifies each chunk, and
// writes runs of them (up to CompactFrame bytes) as one zstd frame to a
// cold pack. The same rewrite gives back the space of packs that deleted
// chunks left mostly garbage, and moves the inline chunks of a format 1
// store into packs.
//
// Moving a group of chunks is crash-safe at every step:
//
//  1. the new frame is appended to a cold pack and the pack is synced;
//  2. one index transaction points each chunk at its new place, if its
//     entry has not changed since it was read (a chunk deleted or written
//     again meanwhile stays as it is);
//  3. once every chunk of the old pack has moved, the index is synced,
//     and only then is the old pack removed.
//
// A crash before 2 leaves garbage at the end of the cold pack; before 3,
// both copies, the index pointing at either.

// CompactResult reports what a compaction did.
type CompactResult struct {
	Chunks  int64 `json:"chunks"`        // chunks moved
	Logical int64 `json:"logical_bytes"` // their length
	Before  int64 `json:"before"`        // their stored bytes before
	After   int64 `json:"after"`         // and after
	Packs   int   `json:"packs_removed"`
}

// Backlog is the compactor's outstanding work.
type Backlog struct {
	// Chunks and Bytes count the chunks not in their at-rest form yet
	// (written by Put in the fast codec, or inline by format 1) and their
	// stored bytes.
	Chunks int64 `json:"chunks"`
	Bytes  int64 `json:"bytes"`
	// Garbage counts the bytes of pack files that no chunk uses: space
	// the compactor gives back when a pack is rewritten or removed.
	Garbage int64 `json:"garbage_bytes"`
}

// Backlog returns the compactor's outstanding work, for metrics. It is
// cheap: counters kept in memory.
func (s *Store) Backlog() Backlog {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := Backlog{Chunks: s.ctr.legacyChunks, Bytes: s.ctr.legacyBytes}
	s.packs.mu.Lock()
	defer s.packs.mu.Unlock()
	for _, p := range s.packs.packs {
		if p.kind == packHot {
			b.Chunks += p.liveChunks
			b.Bytes += p.liveBytes
		}
		b.Garbage += p.garbage()
	}
	return b
}

// Compact compacts everything there is to compact now, whether the store
// is idle or not, and returns what it moved. The background compactor
// does the same work a step at a time when the store is idle.
func (s *Store) Compact(ctx context.Context) (CompactResult, error) {
	var res CompactResult
	for {
		did, err := s.compactStep(ctx, &res, paceNow)
		if err != nil || !did {
			return res, err
		}
	}
}

// kick tells the compactor there may be work.
func (s *Store) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// compactLoop is the background compactor: a step at a time while the
// store is idle, sleeping when there is nothing to do.
func (s *Store) compactLoop() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.closed
		cancel()
	}()
	var res CompactResult
	recheck := time.NewTimer(time.Second)
	defer recheck.Stop()
	for {
		if !s.wait(paceQuiet) {
			return
		}
		did, err := s.compactStep(ctx, &res, paceIdle)
		if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
			s.log.Error("compaction failed", "err", err)
			did = false
		}
		if did {
			continue
		}
		// Nothing to do (or a failure): wait for new work, or re-check
		// now and then (the hot pack is sealed once writes pause).
		recheck.Reset(max(time.Second, 5*s.opts.CompactIdle))
		select {
		case <-s.closed:
			return
		case <-s.wake:
		case <-recheck.C:
		}
	}
}

// compactStep does one unit of compaction (one pack, or a batch of
// inline chunks) and reports whether it found any it could do at pace p.
// A pack that is mostly garbage goes first, and at paceQuiet at least:
// giving disk space back does not wait for other processes' CPU.
func (s *Store) compactStep(ctx context.Context, res *CompactResult, p pace) (bool, error) {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	// The encoder's window is a few MiB: let it go between steps.
	defer func() {
		if s.enc != nil {
			s.enc.Close()
			s.enc = nil
		}
	}()
	if pk, pp := s.pickPack(p); pk != nil {
		return true, s.rewritePack(ctx, pk, res, pp)
	}
	if !s.ready(p) {
		return false, nil
	}
	s.mu.Lock()
	legacy := s.ctr.legacyChunks
	s.mu.Unlock()
	if legacy > 0 && !s.inlineStuck {
		moved, err := s.moveInline(ctx, res, p)
		if err == nil && moved == 0 {
			// What is left does not verify: leave it to Scrub.
			s.inlineStuck = true
			s.log.Warn("inline chunks left that do not verify", "chunks", legacy)
		}
		return true, err
	}
	if legacy == 0 && s.vlogDirty {
		// The value log holds nothing live any more: give its space back.
		s.vlogDirty = false
		_, err := s.reclaimValueLog(ctx, 0.5)
		return true, err
	}
	return false, nil
}

// pickPack chooses the next pack to rewrite, and the pace to rewrite it
// at: a pack that is at least GarbageRatio garbage at paceQuiet or p,
// whichever yields less; else, when the store is ready for pace p, the
// oldest sealed hot pack, else the hot pack writes go to, sealed now.
// Packs with appends not yet committed are left for later.
func (s *Store) pickPack(p pace) (*pack, pace) {
	ps := s.packs
	candidates := func() (hot, sparse *pack) {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		for _, pk := range ps.packs {
			if pk.removed || pk.pending > 0 || s.stuckPacks[pk.id] {
				continue
			}
			switch {
			case pk.sealed && pk.garbage() >= int64(s.opts.GarbageRatio*float64(max(1, pk.size-int64(len(packMagic))))) &&
				(sparse == nil || pk.id < sparse.id):
				sparse = pk
			case pk.kind != packCold && pk.sealed && (hot == nil || pk.id < hot.id):
				hot = pk
			}
		}
		return hot, sparse
	}
	pick := func() (*pack, pace) {
		hot, sparse := candidates()
		switch {
		case sparse != nil:
			return sparse, max(p, paceQuiet)
		case hot != nil && s.ready(p):
			return hot, p
		}
		return nil, p
	}
	if pk, pp := pick(); pk != nil {
		return pk, pp
	}
	// A pack still taking appends can be mostly garbage too.
	ps.mu.Lock()
	cold := ps.cur[packCold]
	sealCold := cold != nil && cold.garbage() >= int64(s.opts.GarbageRatio*float64(max(1, cold.size-int64(len(packMagic))))) &&
		cold.garbage() > 0
	hot := ps.cur[packHot]
	sealHot := hot != nil && hot.size > int64(len(packMagic))
	sparseHot := sealHot && hot.garbage() >= int64(s.opts.GarbageRatio*float64(max(1, hot.size-int64(len(packMagic))))) &&
		hot.garbage() > 0
	ps.mu.Unlock()
	if sealCold {
		ps.seal(packCold)
	}
	if sealHot = sealHot && (sparseHot || s.ready(p)); sealHot {
		ps.seal(packHot)
	}
	if sealCold || sealHot {
		return pick()
	}
	return nil, p
}

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
func (s *Store) rewritePack(ctx context.Context, p *pack, res *CompactResult, pc pace) error {
	s.packs.mu.Lock()
	size := p.size
	s.packs.mu.Unlock()
	g := &group{}
	frameMax := s.opts.CompactFrame + s.params.MaxSize
	fb := s.frames.Get().(*[]byte)
	defer s.putFrame(fb)
	broken := 0
	_, err := scanPack(p, size, s.params.MaxSize, frameMax, func(off int64, n int, r record) error {
		live, err := s.liveIn(p.id, off, r)
		if err != nil || len(live) == 0 {
			return err
		}
		if !s.wait(pc) {
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
		for i, c := range r.chunks {
			b := frame[o : o+c.size]
			o += c.size
			m, ok := live[i]
			if !ok {
				continue
			}
			if chunk.Sum(b) != c.d {
				s.log.Error("chunk does not match its digest; left where it is", "chunk", c.d.Short(), "pack", packName(p.id))
				broken++
				continue
			}
			g.chunks = append(g.chunks, m)
			g.data = append(g.data, b...)
			if len(g.data) >= s.opts.CompactFrame {
				if err := s.flushGroup(ctx, g, res, pc); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = s.flushGroup(ctx, g, res, pc)
	}
	if err != nil {
		return err
	}
	// The moves must be on disk before the old copies go.
	if err := s.sync.Sync(); err != nil {
		return err
	}
	s.step("moved")
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
		s.stuckPacks[p.id] = true
		s.log.Warn("pack keeps chunks it could not move", "pack", packName(p.id), "chunks", live, "broken", broken)
		return nil
	}
	return s.dropPack(p.id, res)
}

// dropPack removes an empty pack: its file, then its record.
func (s *Store) dropPack(id uint64, res *CompactResult) error {
	if err := s.packs.remove(id); err != nil {
		return err
	}
	s.step("removed")
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(packKey(id)) }); err != nil {
		return fmt.Errorf("drop pack record: %w", err)
	}
	res.Packs++
	return nil
}

// liveIn returns, by position in r, the chunks of the record at off in
// pack id that the index still points to there.
func (s *Store) liveIn(id uint64, off int64, r record) (map[int]moving, error) {
	live := map[int]moving{}
	err := s.db.View(func(txn *badger.Txn) error {
		for i, c := range r.chunks {
			item, err := txn.Get(chunkKey(c.d))
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
				live[i] = moving{d: c.d, size: c.size, version: item.Version(), from: l, stored: l.stored}
			}
		}
		return nil
	})
	return live, err
}

// moveInline moves a batch of the inline chunks a format 1 store holds
// (those larger than InlineMax) into cold packs.
func (s *Store) moveInline(ctx context.Context, res *CompactResult, pc pace) (int64, error) {
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
			if !s.wait(pc) {
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
				if err := s.flushGroup(ctx, g, res, pc); err != nil {
					return 0, err
				}
			}
		}
	}
	if err := s.flushGroup(ctx, g, res, pc); err != nil {
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
func (s *Store) encoder() (*zstd.Encoder, error) {
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
func (s *Store) flushGroup(ctx context.Context, g *group, res *CompactResult, pc pace) error {
	if len(g.chunks) == 0 {
		return nil
	}
	defer g.reset()
	if s.enc == nil {
		var err error
		if s.enc, err = s.encoder(); err != nil {
			return err
		}
	}
	enc := s.enc
	var frame bytes.Buffer
	frame.Grow(len(g.data) / 2)
	enc.ResetContentSize(&frame, int64(len(g.data)))
	o := 0
	for _, m := range g.chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.wait(pc) {
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
	s.step("appended")
	if err := s.dataSync.Sync(); err != nil {
		return s.fail(err)
	}
	s.step("synced")
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
	if err := s.commitMoves(g.chunks, locs, res); err != nil {
		return err
	}
	s.step("committed")
	return nil
}

// commitMoves points the index at the chunks' new locations, for those
// whose entry is the one the compactor read.
func (s *Store) commitMoves(ms []moving, locs []location, res *CompactResult) error {
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
		s.addLive(p, x.chunks, x.bytes)
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
func (s *Store) step(name string) {
	if s.opts.hook != nil {
		s.opts.hook(name)
	}
}
