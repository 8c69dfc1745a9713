// Chunks that arrive one by one or already encoded: from a peer, a
// repair, or a client that uploads only what the store lacks.

package cas

import (
	"context"
	"fmt"

	"cairn/cas/chunk"
)

// PutChunk stores b as chunk d after checking that b hashes to d, and
// syncs before returning. It reports whether the chunk was new.
func (s *Store) PutChunk(ctx context.Context, d Digest, b []byte) (bool, error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	defer s.act.begin()()
	if len(b) > s.params.MaxSize {
		return false, fmt.Errorf("put chunk %s: %w: %d bytes", d.Short(), ErrTooLarge, len(b))
	}
	if got := chunk.Sum(b); got != d {
		return false, fmt.Errorf("put chunk %s: %w: bytes hash to %s", d.Short(), ErrDigestMismatch, got.Short())
	}
	if ok, err := s.Has(ctx, d); err != nil {
		return false, err
	} else if ok {
		// Present, maybe by a writer that has not synced yet: the caller
		// takes the answer to mean "on disk".
		return false, s.SyncWrites()
	}
	v := s.codec.encode(nil, b)
	n, err := s.wr.write(ctx, []pendingChunk{{d: d, value: v, size: len(b)}})
	return n.chunks > 0, err
}

// PutStored stores a chunk given in its stored form; see PutStoredBatch.
func (s *Store) PutStored(ctx context.Context, d Digest, v []byte) (bool, error) {
	n, err := s.PutStoredBatch(ctx, []StoredChunk{{Digest: d, Value: v}})
	return n > 0, err
}

// StoredChunk is a chunk in its stored form: codec byte and payload.
type StoredChunk struct {
	Digest Digest
	Value  []byte
}

// PutStoredBatch stores chunks given in their stored form (any codec:
// raw, zstd or S2), after decoding each and checking that it hashes to
// its digest, with one sync for the batch. Nothing is stored when one of
// them is wrong. It returns how many were new.
func (s *Store) PutStoredBatch(ctx context.Context, cs []StoredChunk) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	defer s.act.begin()()
	digests := make([]Digest, len(cs))
	for i, c := range cs {
		digests[i] = c.Digest
	}
	missing, err := s.Missing(ctx, digests)
	if err != nil {
		return 0, err
	}
	need := make(map[Digest]bool, len(missing))
	for _, d := range missing {
		need[d] = true
	}
	var pending []pendingChunk
	// The commit of the chunks' file reads them back soon: the new ones
	// are kept decoded for that (ReadBack), within the room the cache
	// gives, once they are written.
	var kept []cachedChunk
	defer func() {
		for _, k := range kept { // not handed to the cache
			s.rd.cache.release(len(k.b))
		}
	}()
	buf := s.bp.getBuf()
	defer s.bp.putBuf(buf)
	for _, c := range cs {
		b, err := s.codec.decode((*buf)[:0], c.Value, s.params.MaxSize)
		if err != nil {
			return 0, fmt.Errorf("put chunk %s: %w: %v", c.Digest.Short(), ErrDigestMismatch, err)
		}
		*buf = b
		if got := chunk.Sum(b); got != c.Digest {
			return 0, fmt.Errorf("put chunk %s: %w: bytes hash to %s", c.Digest.Short(), ErrDigestMismatch, got.Short())
		}
		if need[c.Digest] {
			pending = append(pending, pendingChunk{d: c.Digest, value: c.Value, size: len(b)})
			need[c.Digest] = false
			if s.rd.cache.reserve(len(b)) {
				kept = append(kept, cachedChunk{c.Digest, append([]byte(nil), b...)})
			}
		}
	}
	if len(pending) == 0 {
		// All present, maybe by a writer that has not synced yet: the
		// caller takes success to mean "on disk".
		return 0, s.SyncWrites()
	}
	w, err := s.wr.write(ctx, pending)
	if err == nil {
		for _, k := range kept {
			s.rd.cache.stored(k.d, k.b)
		}
		kept = nil
	}
	return w.chunks, err
}

// cachedChunk is a chunk's digest and its decoded bytes.
type cachedChunk struct {
	d Digest
	b []byte
}
