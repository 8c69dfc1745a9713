package cas

import (
	"context"
	"errors"
	"fmt"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
)

// GetChunk returns chunk d, verified against its digest.
func (s *Store) GetChunk(ctx context.Context, d Digest) ([]byte, error) {
	return s.getChunk(ctx, d, nil)
}

// entry is what the index holds for a chunk: its stored form (inline) or
// where it lives in a pack, and the version of the entry.
type entry struct {
	inline  []byte
	loc     location
	packed  bool
	version uint64
}

// lookup reads d's index entry. The inline form is copied into buf,
// which is grown as needed.
func (s *Store) lookup(d Digest, buf []byte) (entry, error) {
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

// getChunk appends chunk d, verified, to dst[:0]. It looks in the cache of
// decoded chunks first, and keeps there the chunks read more than once
// lately, and the rest of the shared frames it decodes.
func (s *Store) getChunk(ctx context.Context, d Digest, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	s.act.mark()
	if b, ok := s.cache.get(d, dst[:0]); ok {
		if chunk.Sum(b) == d {
			return b, nil
		}
		s.cache.drop(d)
	}
	out, err := s.readChunk(ctx, d, dst[:0], true)
	if err != nil {
		return nil, err
	}
	if got := chunk.Sum(out); got != d {
		return nil, &CorruptError{Digest: d, Reason: "content hashes to " + got.String()}
	}
	s.cache.read(d, out)
	return out, nil
}

// readChunk decodes chunk d from its stored form into dst, without
// verifying it. A pack the compactor removed between the lookup and the
// read means the chunk moved: it is looked up again. When fill is set, the
// other chunks of a solid frame it decodes go to the cache.
func (s *Store) readChunk(ctx context.Context, d Digest, dst []byte, fill bool) ([]byte, error) {
	vbuf := s.vals.Get().(*[]byte)
	defer s.putVal(vbuf)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := s.lookup(d, *vbuf)
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
		out, err := s.readPacked(d, e.loc, dst, fill)
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
func (s *Store) readPacked(d Digest, loc location, dst []byte, fill bool) ([]byte, error) {
	key := frameKey{loc.pack, loc.off}
	if fill && s.cache != nil {
		s.loadMu.Lock()
		if l, ok := s.loads[key]; ok {
			s.loadMu.Unlock()
			<-l
			if b, ok := s.cache.get(d, dst); ok {
				return b, nil
			}
		} else {
			l := make(chan struct{})
			s.loads[key] = l
			s.loadMu.Unlock()
			defer func() {
				s.loadMu.Lock()
				delete(s.loads, key)
				s.loadMu.Unlock()
				close(l)
			}()
		}
	}
	rb, done := s.scratch(loc.length)
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
	fb, fdone := s.scratch(r.frameSize() + decodeSlack)
	defer fdone()
	frame, err := s.codec.decodeFrame((*fb)[:0], r.codec, r.payload, r.frameSize())
	if err != nil {
		return nil, &CorruptError{Digest: d, Reason: err.Error()}
	}
	*fb = frame
	if len(frame) != r.frameSize() {
		return nil, &CorruptError{Digest: d, Reason: fmt.Sprintf("frame decodes to %d bytes, record says %d", len(frame), r.frameSize())}
	}
	if fill {
		o := 0
		for k, c := range r.chunks {
			if k != i {
				s.cache.put(c.d, frame[o:o+c.size])
			}
			o += c.size
		}
	}
	return append(dst, frame[off:off+r.chunks[i].size]...), nil
}

// frameKey names a record: the pack and the offset it starts at.
type frameKey struct {
	pack uint64
	off  int64
}

func (s *Store) putFrame(b *[]byte) {
	if b != nil && cap(*b) <= 2*(s.opts.CompactFrame+s.params.MaxSize) {
		*b = (*b)[:0]
		s.frames.Put(b)
	}
}

// GetStored returns chunk d in a stored form (codec byte and payload), as
// PutStored takes it: peers pass chunks this way so that a chunk is
// compressed once, by the node that took the write. A chunk that shares a
// zstd frame with others is decoded, verified and given in the fast codec.
func (s *Store) GetStored(ctx context.Context, d Digest) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	s.act.mark()
	for attempt := 0; ; attempt++ {
		e, err := s.lookup(d, nil)
		if err != nil {
			return nil, err
		}
		if !e.packed {
			return e.inline, nil
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
			return append([]byte{byte(r.codec)}, r.payload...), nil
		}
		b, err := s.getChunk(ctx, d, nil)
		if err != nil {
			return nil, err
		}
		return s.codec.encode(nil, b), nil
	}
}
