package cas

import (
	"context"
	"errors"
	"sync"
	"time"

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

// compactor is a store's background compaction: its state lives here,
// the store's own counters and packs it reaches through s.
type compactor struct {
	s    *Store
	wake chan struct{} // tells the compactor there may be work

	// mu is held by a compaction step; it guards the fields after it.
	mu          sync.Mutex
	enc         *zstd.Encoder   // while a step runs
	stuckPacks  map[uint64]bool // packs holding chunks that do not verify
	inlineStuck bool            // inline chunks left that do not verify
	vlogDirty   bool            // the value log held chunks at Open: reclaim it once they moved
}

func newCompactor(s *Store) *compactor {
	return &compactor{s: s, wake: make(chan struct{}, 1), stuckPacks: map[uint64]bool{}}
}

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
	// Quiet reports that the store has had no write in progress and no
	// foreground work for CompactIdle: background work may go ahead.
	Quiet bool `json:"quiet"`
}

// Backlog returns the compactor's outstanding work, for metrics. It is
// cheap: counters kept in memory.
func (s *Store) Backlog() Backlog {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := Backlog{Chunks: s.ctr.legacyChunks, Bytes: s.ctr.legacyBytes, Quiet: s.cmp != nil && s.cmp.quiet()}
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
		did, err := s.cmp.step(ctx, &res, paceNow)
		if err != nil || !did {
			return res, err
		}
	}
}

// kick tells the compactor there may be work.
func (c *compactor) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// compactLoop is the background compactor: a step at a time while the
// store is idle, sleeping when there is nothing to do.
func (c *compactor) loop() {
	s := c.s
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
		if !c.wait(paceQuiet) {
			return
		}
		did, err := c.step(ctx, &res, paceIdle)
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
		case <-c.wake:
		case <-recheck.C:
		}
	}
}

// compactStep does one unit of compaction (one pack, or a batch of
// inline chunks) and reports whether it found any it could do at pace p.
// A pack that is mostly garbage goes first, and at paceQuiet at least:
// giving disk space back does not wait for other processes' CPU.
func (c *compactor) step(ctx context.Context, res *CompactResult, p pace) (bool, error) {
	s := c.s
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	// The encoder's window is a few MiB: let it go between steps.
	defer func() {
		if c.enc != nil {
			c.enc.Close()
			c.enc = nil
		}
	}()
	if pk, pp := c.pickPack(p); pk != nil {
		return true, c.rewritePack(ctx, pk, res, pp)
	}
	if !c.ready(p) {
		return false, nil
	}
	s.mu.Lock()
	legacy := s.ctr.legacyChunks
	s.mu.Unlock()
	if legacy > 0 && !c.inlineStuck {
		moved, err := c.moveInline(ctx, res, p)
		if err == nil && moved == 0 {
			// What is left does not verify: leave it to Scrub.
			c.inlineStuck = true
			s.log.Warn("inline chunks left that do not verify", "chunks", legacy)
		}
		return true, err
	}
	if legacy == 0 && c.vlogDirty {
		// The value log holds nothing live any more: give its space back.
		c.vlogDirty = false
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
func (c *compactor) pickPack(p pace) (*pack, pace) {
	s := c.s
	ps := s.packs
	candidates := func() (hot, sparse *pack) {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		for _, pk := range ps.packs {
			if pk.removed || pk.pending > 0 || c.stuckPacks[pk.id] {
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
		case hot != nil && c.ready(p):
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
	if sealHot = sealHot && (sparseHot || c.ready(p)); sealHot {
		ps.seal(packHot)
	}
	if sealCold || sealHot {
		return pick()
	}
	return nil, p
}
