package cas

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
)

// GetChunk returns chunk d, verified against its digest.
func (s *Store) GetChunk(ctx context.Context, d Digest) ([]byte, error) {
	return s.rd.getChunk(ctx, d, nil)
}

// entry is what the index holds for a chunk: its stored form (inline) or
// where it lives in a pack, and the version of the entry.
type entry struct {
	inline  []byte
	loc     location
	packed  bool
	version uint64
}

// reader is a store's read path: the index lookups, the frames being
// decoded (shared between readers of one frame), and the cache of
// decoded chunks.
type reader struct {
	s      *Store
	cache  *chunkCache
	loadMu sync.Mutex
	loads  map[frameKey]chan struct{} // shared frames being decoded
	// prefetches bounds the frames decoded ahead of streamed reads.
	prefetches chan struct{}
}

func newReader(s *Store, opts Options) *reader {
	return &reader{s: s, cache: newChunkCache(opts.CacheSize), loads: map[frameKey]chan struct{}{}, prefetches: make(chan struct{}, opts.Concurrency)}
}

// lookup reads d's index entry. The inline form is copied into buf,
// which is grown as needed.
func (rd *reader) lookup(d Digest, buf []byte) (entry, error) {
	s := rd.s
	var e entry
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(d))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("get chunk %s: %w", d, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("get chunk %s: %w", d.Short(), err)
		}
		e.version = item.Version()
		e.packed = item.UserMeta()&metaPacked != 0
		v, err := item.ValueCopy(buf[:0])
		if err != nil {
			// The value log entry failed Badger's checksum.
			return &CorruptError{Digest: d, Reason: err.Error()}
		}
		if !e.packed {
			e.inline = v
			return nil
		}
		if e.loc, err = parseLocation(v); err != nil {
			return &CorruptError{Digest: d, Reason: err.Error()}
		}
		return nil
	})
	return e, err
}

// access says how a chunk is read: alone, or as part of a file streamed
// in order (a Reader's read-ahead).
type access int

const (
	accessOne access = iota
	accessStream
)

// getChunk appends chunk d, verified, to dst[:0]; see get.
func (rd *reader) getChunk(ctx context.Context, d Digest, dst []byte) ([]byte, error) {
	return rd.get(ctx, d, dst, accessOne)
}

// get appends chunk d, verified, to dst[:0]. It looks in the cache of
// decoded chunks first, and keeps there the chunks read more than once
// lately, and the rest of the shared frames it decodes. A streamed read
// that decodes a shared frame starts decoding the frame after it too.
func (rd *reader) get(ctx context.Context, d Digest, dst []byte, how access) ([]byte, error) {
	s := rd.s
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	s.act.markRead(ctx)
	if b, next, ok := s.rd.cache.getNext(d, dst[:0]); ok {
		if chunk.Sum(b) == d {
			if how == accessStream && next.pack != 0 {
				// A streamed read reached a frame decoded ahead: decode
				// the one after it meanwhile.
				rd.prefetch(next, 1)
			}
			s.heat.note(d)
			return b, nil
		}
		s.rd.cache.drop(d)
	}
	out, err := rd.readChunk(ctx, d, dst[:0], how)
	if err != nil {
		return nil, err
	}
	if got := chunk.Sum(out); got != d {
		return nil, &CorruptError{Digest: d, Reason: "content hashes to " + got.String()}
	}
	s.rd.cache.read(d, out)
	s.heat.note(d)
	return out, nil
}

// readChunk decodes chunk d from its stored form into dst, without
// verifying it. A pack the compactor removed between the lookup and the
// read means the chunk moved: it is looked up again.
func (rd *reader) readChunk(ctx context.Context, d Digest, dst []byte, how access) ([]byte, error) {
	s := rd.s
	vbuf := s.bp.vals.Get().(*[]byte)
	defer s.bp.putVal(vbuf)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := rd.lookup(d, *vbuf)
		if err != nil {
			return nil, err
		}
		if !e.packed {
			*vbuf = e.inline
			out, err := s.codec.decode(dst, e.inline, s.params.MaxSize)
			if err != nil {
				return nil, &CorruptError{Digest: d, Reason: err.Error()}
			}
			return out, nil
		}
		out, err := rd.readPacked(d, e.loc, dst, how)
		if errors.Is(err, errPackGone) && attempt < 3 {
			continue
		}
		return out, err
	}
}

// readPacked decodes chunk d from the record at loc. Concurrent reads of
// chunks of one shared frame (a Reader's read-ahead) decode it once: the
// first decodes it and fills the cache, the others wait and take their
// chunk from the cache.
func (rd *reader) readPacked(d Digest, loc location, dst []byte, how access) ([]byte, error) {
	s := rd.s
	key := frameKey{loc.pack, loc.off}
	if s.rd.cache != nil {
		s.rd.loadMu.Lock()
		if l, ok := s.rd.loads[key]; ok {
			s.rd.loadMu.Unlock()
			<-l
			if b, ok := s.rd.cache.get(d, dst); ok {
				return b, nil
			}
		} else {
			l := make(chan struct{})
			s.rd.loads[key] = l
			s.rd.loadMu.Unlock()
			defer func() {
				s.rd.loadMu.Lock()
				delete(s.rd.loads, key)
				s.rd.loadMu.Unlock()
				close(l)
			}()
		}
	}
	rb, done := s.bp.scratch(loc.length)
	defer done()
	raw, err := s.packs.readAt(loc.pack, loc.off, loc.length, *rb)
	if errors.Is(err, errPackGone) {
		return nil, err
	}
	if err != nil {
		return nil, &CorruptError{Digest: d, Reason: err.Error()}
	}
	*rb = raw
	r, err := parseRecord(raw, s.params.MaxSize, s.opts.CompactFrame+s.params.MaxSize)
	if err != nil {
		return nil, &CorruptError{Digest: d, Reason: err.Error()}
	}
	i, off, err := r.chunkIndex(d)
	if err != nil {
		return nil, &CorruptError{Digest: d, Reason: err.Error()}
	}
	if len(r.chunks) == 1 {
		out, err := s.codec.decodeFrame(dst, r.codec, r.payload, s.params.MaxSize)
		if err != nil {
			return nil, &CorruptError{Digest: d, Reason: err.Error()}
		}
		return out, nil
	}
	fb, fdone := s.bp.scratch(r.frameSize() + decodeSlack)
	defer fdone()
	frame, err := s.codec.decodeFrame((*fb)[:0], r.codec, r.payload, r.frameSize())
	if err != nil {
		return nil, &CorruptError{Digest: d, Reason: err.Error()}
	}
	*fb = frame
	if len(frame) != r.frameSize() {
		return nil, &CorruptError{Digest: d, Reason: fmt.Sprintf("frame decodes to %d bytes, record says %d", len(frame), r.frameSize())}
	}
	next := frameKey{loc.pack, loc.off + int64(loc.length)}
	rd.cacheFrame(r, frame, next, i)
	if how == accessStream {
		// Decode the next two frames on the other cores meanwhile.
		rd.prefetch(next, 2)
	}
	return append(dst, frame[off:off+r.chunks[i].size]...), nil
}

// cacheFrame keeps the chunks of a decoded shared frame but the one at
// skip (-1: none), marking the first with the record after the frame.
func (rd *reader) cacheFrame(r record, frame []byte, next frameKey, skip int) {
	s := rd.s
	o := 0
	for k, c := range r.chunks {
		if k == 0 {
			s.rd.cache.putNext(c.d, frame[o:o+c.size], next)
		} else if k != skip {
			s.rd.cache.put(c.d, frame[o:o+c.size])
		}
		o += c.size
	}
}

// prefetch decodes the shared frame at key into the cache, and the depth-1
// frames after it, on a goroutine of its own, unless Concurrency
// prefetches run already or someone loads it: a file streamed in order
// finds its next frames decoded (the compactor writes a file's chunks in
// order), on the other cores, while it reads the one before from the
// cache.
func (rd *reader) prefetch(key frameKey, depth int) {
	s := rd.s
	if depth <= 0 {
		return
	}
	if s.rd.cache == nil {
		return
	}
	select {
	case s.rd.prefetches <- struct{}{}:
	default:
		return
	}
	// Close waits for the goroutine: start it only while Close cannot
	// have begun waiting (it takes views exclusively first).
	s.views.RLock()
	defer s.views.RUnlock()
	select {
	case <-s.closed:
		<-s.rd.prefetches
		return
	default:
	}
	s.rd.loadMu.Lock()
	if _, ok := s.rd.loads[key]; ok {
		s.rd.loadMu.Unlock()
		<-s.rd.prefetches
		return
	}
	l := make(chan struct{})
	s.rd.loads[key] = l
	s.rd.loadMu.Unlock()
	s.wg.Go(func() {
		defer func() {
			s.rd.loadMu.Lock()
			delete(s.rd.loads, key)
			s.rd.loadMu.Unlock()
			close(l)
			<-s.rd.prefetches
		}()
		if next, ok := rd.decodeInto(key); ok {
			rd.prefetch(next, depth-1)
		}
	})
}

// decodeInto reads the record at key and, if it is a shared frame whose
// chunks are not all cached, decodes it into the cache, and returns the
// record after it. It gives up quietly on anything unexpected: the chunks
// are read the ordinary way.
func (rd *reader) decodeInto(key frameKey) (frameKey, bool) {
	s := rd.s
	maxFrame := s.opts.CompactFrame + s.params.MaxSize
	hb, hdone := s.bp.scratch(64 << 10)
	defer hdone()
	head, err := s.packs.readAt(key.pack, key.off, 64<<10, *hb)
	if err != nil {
		// The pack ends sooner: read what there is.
		head, err = s.packs.readTail(key.pack, key.off, 64<<10, *hb)
		if err != nil {
			return frameKey{}, false
		}
	}
	*hb = head
	br := &bufReader{b: head}
	h, err := readRecordHeader(br, s.params.MaxSize, maxFrame)
	if err != nil || len(h.chunks) < 2 {
		return frameKey{}, false
	}
	cached := 0
	for _, c := range h.chunks {
		if s.rd.cache.has(c.d) {
			cached++
		}
	}
	if cached == len(h.chunks) {
		return frameKey{}, false
	}
	n := len(head) - len(br.b) + h.n
	rb, rdone := s.bp.scratch(n)
	defer rdone()
	raw, err := s.packs.readAt(key.pack, key.off, n, *rb)
	if err != nil {
		return frameKey{}, false
	}
	*rb = raw
	r, err := parseRecord(raw, s.params.MaxSize, maxFrame)
	if err != nil {
		return frameKey{}, false
	}
	fb, fdone := s.bp.scratch(r.frameSize() + decodeSlack)
	defer fdone()
	frame, err := s.codec.decodeFrame((*fb)[:0], r.codec, r.payload, r.frameSize())
	if err != nil || len(frame) != r.frameSize() {
		return frameKey{}, false
	}
	*fb = frame
	next := frameKey{key.pack, key.off + int64(n)}
	rd.cacheFrame(r, frame, next, -1)
	return next, true
}

// frameKey names a record: the pack and the offset it starts at.
type frameKey struct {
	pack uint64
	off  int64
}

// StoredFor says who a stored form GetStored returns is for, and so
// what it does with a chunk that shares a frame with others.
type StoredFor int

const (
	// ForPeer is a node that keeps the chunk (replication, the tier): a
	// chunk of a shared frame comes decoded, verified and in the fast
	// codec, and the read is not a use of the chunk.
	ForPeer StoredFor = iota
	// ForReader is a client that decodes and verifies what it gets: a
	// chunk of a shared frame comes raw, decoded and verified here (a
	// frame holds many chunks), a chunk stored alone raw is verified too
	// (what comes raw is always verified, as a client that asked for
	// nothing gets it), and the read counts as a use of the chunk, as
	// GetChunk's does.
	ForReader
)

// GetStored returns chunk d in a stored form (codec byte and payload), as
// PutStored takes it: peers pass chunks this way so that a chunk is
// compressed once, by the node that took the write, and a client that
// reads the codec decodes it itself. A chunk in a record of its own is
// returned as stored, not decoded and not verified: whoever takes it
// must (PutStored does). For a chunk that shares a zstd frame with
// others, see StoredFor.
func (s *Store) GetStored(ctx context.Context, d Digest, to StoredFor) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	s.act.markRead(ctx)
	for attempt := 0; ; attempt++ {
		e, err := s.rd.lookup(d, nil)
		if err != nil {
			return nil, err
		}
		if !e.packed {
			return s.storedFor(d, e.inline, to)
		}
		raw, err := s.packs.readAt(e.loc.pack, e.loc.off, e.loc.length, nil)
		if errors.Is(err, errPackGone) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, &CorruptError{Digest: d, Reason: err.Error()}
		}
		r, err := parseRecord(raw, s.params.MaxSize, s.opts.CompactFrame+s.params.MaxSize)
		if err != nil {
			return nil, &CorruptError{Digest: d, Reason: err.Error()}
		}
		if len(r.chunks) == 1 {
			if r.chunks[0].d != d {
				return nil, &CorruptError{Digest: d, Reason: "record holds chunk " + r.chunks[0].d.Short()}
			}
			// The payload is raw's tail, after a header of more than
			// one byte: the byte before it takes the codec, and the
			// form is a slice of raw, not a copy.
			off := len(raw) - len(r.payload)
			raw[off-1] = byte(r.codec)
			return s.storedFor(d, raw[off-1:], to)
		}
		if to == ForReader {
			i, _, err := r.chunkIndex(d)
			if err != nil {
				return nil, &CorruptError{Digest: d, Reason: err.Error()}
			}
			// The chunk is decoded after the codec byte, in place.
			v := make([]byte, 1, 1+r.chunks[i].size)
			b, err := s.rd.getChunk(ctx, d, v[1:])
			if err != nil {
				return nil, err
			}
			if len(b) > 0 && cap(v) > 1 && &b[0] == &v[:2][1] { // decoded in place
				return v[:1+len(b)], nil
			}
			return append(v, b...), nil
		}
		b, err := s.rd.getChunk(ctx, d, nil)
		if err != nil {
			return nil, err
		}
		return s.codec.encode(nil, b), nil
	}
}

// storedFor returns the stored form v of chunk d, a record of its own, as
// to takes it: for a reader, a raw form is verified and the read counts
// as a use (the tier moves chunks no reader used lately).
func (s *Store) storedFor(d Digest, v []byte, to StoredFor) ([]byte, error) {
	if to != ForReader {
		return v, nil
	}
	if len(v) > 0 && Codec(v[0]) == CodecRaw {
		if got := chunk.Sum(v[1:]); got != d {
			return nil, &CorruptError{Digest: d, Reason: "content hashes to " + got.String()}
		}
	}
	s.heat.note(d)
	return v, nil
}
