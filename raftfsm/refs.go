package raftfsm

import (
	"encoding/binary"
	"fmt"

	"cairn/cas"
)

// incref adds a reference to a file. A file seen for the first time is
// recorded with its recipe, and each of its distinct chunks gains a
// reference.
func (x *txn) incref(f File) error {
	var rec FileRecord
	ok, err := x.fileRecord(f.Digest, &rec)
	if err != nil {
		return err
	}
	if ok {
		rec.Refs++
		return x.putFileRecord(&rec)
	}
	if f.Recipe == nil && f.Size > 0 {
		return fmt.Errorf("state lacks file %s that a command refers to without its recipe", f.Digest.Short())
	}
	rec = FileRecord{Digest: f.Digest, Size: f.Size, Refs: 1, Recipe: f.Recipe}
	for _, c := range distinctRefs(f.Recipe) {
		if err := x.chunkRef(c, +1); err != nil {
			return err
		}
	}
	x.stats.Files++
	x.stats.FileBytes += f.Size
	return x.putFileRecord(&rec)
}

// decref drops a reference to a file; the last one removes the file and a
// reference from each of its chunks.
func (x *txn) decref(d cas.Digest) error {
	var rec FileRecord
	ok, err := x.fileRecord(d, &rec)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("state lacks file %s that an object points to", d.Short())
	}
	if rec.Refs--; rec.Refs > 0 {
		return x.putFileRecord(&rec)
	}
	for _, c := range distinctRefs(rec.Recipe) {
		if err := x.chunkRef(c, -1); err != nil {
			return err
		}
	}
	x.stats.Files--
	x.stats.FileBytes -= rec.Size
	return x.del(digestKey(tFile, d))
}

func distinctRefs(r cas.Recipe) []cas.Ref {
	seen := make(map[cas.Digest]bool, len(r))
	out := make([]cas.Ref, 0, len(r))
	for _, c := range r {
		if !seen[c.Digest] {
			seen[c.Digest] = true
			out = append(out, c)
		}
	}
	return out
}

// chunkRef changes a chunk's reference count by delta. A chunk whose count
// falls to zero is recorded, with the index, as a candidate for garbage
// collection; one that gains a reference is no longer a candidate.
func (x *txn) chunkRef(c cas.Ref, delta int64) error {
	k := digestKey(tChunk, c.Digest)
	v, ok, err := x.getRaw(k)
	if err != nil {
		return err
	}
	var refs int64
	if ok {
		n, m := binary.Uvarint(v)
		if m <= 0 {
			return fmt.Errorf("decode chunk refs of %s", c.Digest.Short())
		}
		refs = int64(n)
	}
	next := refs + delta
	switch {
	case next < 0:
		return fmt.Errorf("chunk %s refs would fall below zero", c.Digest.Short())
	case next == 0:
		x.stats.Chunks--
		x.stats.ChunkBytes -= int64(c.Size)
		if err := x.del(k); err != nil {
			return err
		}
		return x.set(digestKey(tZero, c.Digest), binary.BigEndian.AppendUint64(nil, x.index))
	case refs == 0:
		x.stats.Chunks++
		x.stats.ChunkBytes += int64(c.Size)
		// Delete the candidate record only when there is one: a blind
		// delete writes a tombstone for every new chunk.
		zk := digestKey(tZero, c.Digest)
		if _, zero, err := x.getRaw(zk); err != nil {
			return err
		} else if zero {
			if err := x.del(zk); err != nil {
				return err
			}
		}
		if err := x.tier().revive(c.Digest); err != nil {
			return err
		}
	}
	val := binary.AppendUvarint(nil, uint64(next))
	return x.set(k, binary.AppendUvarint(val, uint64(c.Size)))
}

func (x *txn) fileRecord(d cas.Digest, rec *FileRecord) (bool, error) {
	v, ok, err := x.getRaw(digestKey(tFile, d))
	if !ok || err != nil {
		return ok, err
	}
	return true, rec.unmarshal(d, v)
}

func (x *txn) putFileRecord(rec *FileRecord) error {
	return x.set(digestKey(tFile, rec.Digest), rec.marshal())
}

// marshal encodes a file record: refs and size as uvarints, then the
// recipe's binary form.
func (rec *FileRecord) marshal() []byte {
	b := binary.AppendUvarint(nil, uint64(rec.Refs))
	b = binary.AppendUvarint(b, uint64(rec.Size))
	r, _ := rec.Recipe.MarshalBinary()
	return append(b, r...)
}

func (rec *FileRecord) unmarshal(d cas.Digest, v []byte) error {
	refs, n := binary.Uvarint(v)
	if n <= 0 {
		return fmt.Errorf("decode file record %s", d.Short())
	}
	size, m := binary.Uvarint(v[n:])
	if m <= 0 {
		return fmt.Errorf("decode file record %s", d.Short())
	}
	rec.Digest, rec.Refs, rec.Size = d, int64(refs), int64(size)
	if size == 0 {
		rec.Recipe = nil
		return nil
	}
	if err := rec.Recipe.UnmarshalBinary(v[n+m:]); err != nil {
		return fmt.Errorf("decode file record %s: %w", d.Short(), err)
	}
	return nil
}
