package cas

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// A chunk write goes in three steps, so that the index never points at
// bytes that are not on disk:
//
//  1. claim: under s.mu, the chunks neither in the index nor claimed by
//     another writer are claimed (s.inflight), so that no two writers
//     store the same new chunk;
//  2. append: the claimed chunks larger than InlineMax are appended to the
//     hot pack in one write, then the pack files are synced (dataSync);
//  3. commit: under s.mu, one Badger transaction writes their index
//     entries (a location, or the stored form itself for small chunks)
//     with the counters, and the claims are released.
//
// Steps 2 (the sync) and 3, and the sync of the index after them, run in
// rounds shared by concurrent writers (committer): one round syncs the
// packs once, commits every queued batch, and syncs the index once. A
// writer that found a chunk claimed by another waits for that claim to
// end before it returns; if the other writer gave up, it stores the chunk
// itself.

// claim marks a chunk a writer is storing.
type claim struct {
	done chan struct{} // closed when the writer committed or gave up
	ok   bool          // set before done is closed: committed
}

type pendingChunk struct {
	d     Digest
	value []byte // stored form
	size  int    // logical length
}

// writeBatch is a set of chunks one writer stores together.
type writeBatch struct {
	chunks []pendingChunk // claimed by this writer
	locs   []location     // by chunk; pack 0 means inline
	claim  *claim
	waits  []claimWait // chunks another writer claimed first
	done   bool        // committed or abandoned
	pack   *pack       // the pack appended to, pending until done
	w      written     // what commit wrote
}

type claimWait struct {
	c     *claim
	chunk pendingChunk
}

type written struct {
	chunks      int
	logical     int64
	storedBytes int64
}

func (w *written) add(o written) {
	w.chunks += o.chunks
	w.logical += o.logical
	w.storedBytes += o.storedBytes
}

// writer is a store's write path: Put's pipeline, the batches of new
// chunks it reserves and appends to packs, and their group commit.
type writer struct {
	s       *Store
	commits *committer
}

// reserve claims the chunks of cs that are neither in the index nor
// claimed by another writer. Chunks another writer claimed are listed as
// waits, with their stored form, in case that writer gives up.
func (wr *writer) reserve(ctx context.Context, cs []pendingChunk) (*writeBatch, error) {
	s := wr.s
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var size int64
	for _, c := range cs {
		size += int64(len(c.value))
	}
	if err := s.CheckSpace(size); err != nil {
		return nil, err
	}
	b := &writeBatch{claim: &claim{done: make(chan struct{})}}
	s.mu.Lock()
	defer s.mu.Unlock()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	for _, c := range cs {
		if cl, ok := s.inflight[c.d]; ok {
			if cl != b.claim {
				b.waits = append(b.waits, claimWait{c: cl, chunk: c})
			}
			continue
		}
		if _, err := txn.Get(chunkKey(c.d)); err == nil {
			continue
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			wr.releaseLocked(b)
			return nil, fmt.Errorf("look up chunk %s: %w", c.d.Short(), err)
		}
		s.inflight[c.d] = b.claim
		b.chunks = append(b.chunks, c)
	}
	b.locs = make([]location, len(b.chunks))
	return b, nil
}

// appendPacked appends the batch's chunks that do not stay inline to the
// hot pack, in one write, and notes where each went. It does not sync.
func (wr *writer) appendPacked(b *writeBatch) error {
	s := wr.s
	need := 0
	for _, c := range b.chunks {
		if len(c.value) > s.opts.InlineMax {
			need += len(c.value) + 64
		}
	}
	if need == 0 {
		return nil
	}
	fb, done := s.bp.scratch(need)
	defer done()
	buf := (*fb)[:0]
	defer func() { *fb = buf }()
	type span struct{ i, at, n int }
	var spans []span
	for i, c := range b.chunks {
		if len(c.value) <= s.opts.InlineMax {
			continue
		}
		at := len(buf)
		buf = appendRecord(buf, Codec(c.value[0]), []recordChunk{{d: c.d, size: c.size}}, c.value[1:])
		spans = append(spans, span{i, at, len(buf) - at})
	}
	if len(buf) == 0 {
		return nil
	}
	p, off, err := s.packs.appendRecords(packHot, buf)
	if err != nil {
		return err
	}
	b.pack = p
	for _, sp := range spans {
		b.locs[sp.i] = location{pack: p.id, off: off + int64(sp.at), length: sp.n, logical: b.chunks[sp.i].size, stored: int64(sp.n)}
	}
	return nil
}

// dropPacked lets go of the stored forms of the chunks appended to a
// pack: their commit needs only their locations.
func (b *writeBatch) dropPacked() {
	for i := range b.chunks {
		if b.locs[i].pack != 0 {
			b.chunks[i].value = nil
		}
	}
}

// packed reports whether the batch wrote anything to a pack.
func (b *writeBatch) packed() bool {
	for _, l := range b.locs {
		if l.pack != 0 {
			return true
		}
	}
	return false
}

// txnBudget bounds the bytes of index entries one transaction writes,
// well under what Badger takes in one (15% of the 16 MiB memtable).
const txnBudget = 1 << 20

// commit writes the index entries of batches whose packed bytes are
// synced, with the counters, in as few transactions as fit, and releases
// their claims.
func (wr *writer) commit(bs ...*writeBatch) (written, error) {
	s := wr.s
	var w written
	type item struct {
		b *writeBatch
		i int
	}
	var items []item
	for _, b := range bs {
		for i := range b.chunks {
			items = append(items, item{b, i})
		}
	}
	var err error
	for len(items) > 0 && err == nil {
		n, size := 0, 0
		for n < len(items) && (n == 0 || size < txnBudget) {
			size += 64 + len(items[n].b.chunks[items[n].i].value) // nil once packed
			n++
		}
		part := make([]pendingChunk, n)
		locs := make([]location, n)
		for i, it := range items[:n] {
			part[i], locs[i] = it.b.chunks[it.i], it.b.locs[it.i]
		}
		if err = wr.commitTxn(part, locs); err == nil {
			for _, it := range items[:n] {
				c := it.b.chunks[it.i]
				stored := int64(len(c.value))
				if l := it.b.locs[it.i]; l.pack != 0 {
					stored = l.stored
				}
				x := written{chunks: 1, logical: int64(c.size), storedBytes: stored}
				it.b.w.add(x)
				w.add(x)
			}
		}
		items = items[n:]
	}
	for _, b := range bs {
		wr.release(b, err == nil)
	}
	if err == nil && w.chunks > 0 {
		s.cmp.kick()
	}
	return w, err
}

// commitTxn writes index entries and counters in one transaction. A
// failure fails the store: the counters already count the chunks.
func (wr *writer) commitTxn(cs []pendingChunk, locs []location) error {
	s := wr.s
	var w written
	s.mu.Lock()
	txn := s.db.NewTransaction(true)
	next := s.ctr
	touched := map[*pack]bool{}
	for i, c := range cs {
		k := chunkKey(c.d)
		l := locs[i]
		var err error
		if l.pack == 0 {
			err = txn.Set(k, c.value)
			w.storedBytes += int64(len(c.value))
		} else {
			err = txn.SetEntry(badger.NewEntry(k, l.marshal()).WithMeta(metaPacked))
			w.storedBytes += l.stored
			p := wr.packFor(l.pack)
			wr.addLive(p, 1, l.stored)
			touched[p] = true
		}
		if err != nil {
			s.mu.Unlock()
			txn.Discard()
			return s.fail(fmt.Errorf("write chunk %s: %w", c.d.Short(), err))
		}
		w.chunks++
		w.logical += int64(c.size)
	}
	next.Chunks += int64(w.chunks)
	next.LogicalBytes += w.logical
	next.StoredBytes += w.storedBytes
	err := txn.Set(keyStats, next.marshal())
	for p := range touched {
		if err == nil {
			err = txn.Set(packKey(p.id), marshalPackRecord(p))
		}
	}
	if err != nil {
		s.mu.Unlock()
		txn.Discard()
		return s.fail(fmt.Errorf("write counters: %w", err))
	}
	s.ctr = next
	done := make(chan error, 1)
	s.writing.Add(1)
	txn.CommitWith(func(err error) { done <- err })
	s.mu.Unlock()
	err = <-done
	if err == nil {
		s.written.Add(1)
	}
	s.writing.Add(-1)
	if err != nil {
		return s.fail(fmt.Errorf("write chunks: %w", err))
	}
	return nil
}

// packFor returns the open pack id, which a writer just appended to. The
// caller holds s.mu.
func (wr *writer) packFor(id uint64) *pack {
	s := wr.s
	s.packs.mu.Lock()
	defer s.packs.mu.Unlock()
	if p := s.packs.packs[id]; p != nil {
		return p
	}
	// Removed meanwhile: it cannot be, a pack with claims pending is
	// never empty of them; count into a detached pack rather than panic.
	return &pack{id: id}
}

// addLive changes what the index says lives in p. The caller holds s.mu;
// the counts may be read under either lock.
func (wr *writer) addLive(p *pack, chunks, bytes int64) {
	s := wr.s
	s.packs.mu.Lock()
	p.liveChunks += chunks
	p.liveBytes += bytes
	s.packs.mu.Unlock()
}

// release ends a batch's claims: committed (ok) or abandoned.
func (wr *writer) release(b *writeBatch, ok bool) {
	s := wr.s
	s.mu.Lock()
	defer s.mu.Unlock()
	b.claim.ok = ok
	wr.releaseLocked(b)
}

func (wr *writer) releaseLocked(b *writeBatch) {
	s := wr.s
	if b.done {
		return
	}
	b.done = true
	if b.pack != nil {
		s.packs.settle(b.pack)
	}
	for _, c := range b.chunks {
		if s.inflight[c.d] == b.claim {
			delete(s.inflight, c.d)
		}
	}
	close(b.claim.done)
}

// settle waits for the chunks of b that other writers claimed, and stores
// those whose writer gave up.
func (wr *writer) settle(ctx context.Context, waits []claimWait) (written, error) {
	var w written
	var again []pendingChunk
	for _, x := range waits {
		select {
		case <-x.c.done:
		case <-ctx.Done():
			return w, ctx.Err()
		}
		if !x.c.ok {
			again = append(again, x.chunk)
		}
	}
	if len(again) == 0 {
		return w, nil
	}
	return wr.write(ctx, again)
}

// write stores the chunks of cs that are not present yet, durably: packed
// bytes synced, index entries committed and synced.
func (wr *writer) write(ctx context.Context, cs []pendingChunk) (written, error) {
	s := wr.s
	b, err := wr.reserve(ctx, cs)
	if err != nil {
		return written{}, err
	}
	if err := wr.appendPacked(b); err != nil {
		wr.release(b, false)
		return written{}, err
	}
	if err := s.wr.commits.commit(b); err != nil {
		return written{}, err
	}
	w := b.w
	more, err := wr.settle(ctx, b.waits)
	w.add(more)
	if err == nil {
		// Chunks another writer stored: that writer's round may not have
		// synced the index yet.
		err = s.SyncWrites()
	}
	return w, err
}

// committer makes writes durable in rounds shared by concurrent writers
// (group commit): a round syncs the pack files, commits the index entries
// of every batch queued since the last round began, and syncs the index.
// Writers that arrive while a round runs wait for the next one.
type committer struct {
	s       *Store
	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	next    *commitRound
}

type commitRound struct {
	batches []*writeBatch
	done    bool
	err     error
}

func newCommitter(s *Store) *committer {
	c := &committer{s: s}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// commit returns once the batches are durable, or have failed; either way
// their claims are released.
func (c *committer) commit(bs ...*writeBatch) error {
	c.mu.Lock()
	if c.next == nil {
		c.next = &commitRound{}
	}
	r := c.next
	r.batches = append(r.batches, bs...)
	for c.running && !r.done {
		c.cond.Wait()
	}
	if r.done {
		c.mu.Unlock()
		return r.err
	}
	c.running = true
	c.next = nil
	c.mu.Unlock()
	err := c.s.wr.durable(r.batches)
	c.mu.Lock()
	r.done, r.err = true, err
	c.running = false
	c.cond.Broadcast()
	c.mu.Unlock()
	return err
}

// durable is one round of the committer.
func (wr *writer) durable(bs []*writeBatch) error {
	s := wr.s
	for _, b := range bs {
		if b.packed() {
			if err := s.dataSync.Sync(); err != nil {
				for _, b := range bs {
					wr.release(b, false)
				}
				return s.fail(err)
			}
			break
		}
	}
	if _, err := wr.commit(bs...); err != nil {
		return err
	}
	return s.sync.Sync()
}
