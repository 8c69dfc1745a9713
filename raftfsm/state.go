package raftfsm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"cairn/cas"

	"github.com/dgraph-io/badger/v4"
)

// State answers queries about the replicated state as this node has
// applied it: a read after a write on this node sees the write, and
// Node.Barrier makes a later read see every write committed before it.
// It is safe for concurrent use.
type State struct{ f *fsm }

// Applied returns the index of the last entry this node applied.
func (s *State) Applied() uint64 { i, _ := s.f.Applied(); return i }

// Err returns ErrFailed when the state store failed and the node must be
// restarted.
func (s *State) Err() error { return s.f.err() }

// Stats returns the namespace counters.
func (s *State) Stats() (Stats, error) {
	var st Stats
	err := s.f.view(func(x *txn) error {
		_, err := x.get([]byte{tStats}, &st)
		return err
	})
	return st, err
}

// Bucket returns a bucket, or ErrNoSuchBucket.
func (s *State) Bucket(name string) (Bucket, error) {
	var b Bucket
	err := s.f.view(func(x *txn) error {
		ok, err := x.get(key(tBucket, name), &b)
		if err == nil && !ok {
			err = fmt.Errorf("%w: %s", ErrNoSuchBucket, name)
		}
		return err
	})
	return b, err
}

// Buckets returns every bucket in name order.
func (s *State) Buckets() ([]Bucket, error) {
	var out []Bucket
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tBucket}, nil, 0, func(_ []byte, v []byte) error {
			var b Bucket
			if err := json.Unmarshal(v, &b); err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

// Object returns the object at bucket/key with its file's recipe, read
// in one view: ErrNotFound or ErrNoSuchBucket when absent.
func (s *State) Object(bucket, k string) (Object, FileRecord, error) {
	var o Object
	var rec FileRecord
	err := s.f.view(func(x *txn) error {
		ok, err := x.get(objectKey(bucket, k), &o)
		if err != nil {
			return err
		}
		if !ok {
			if b, err := x.bucket(bucket); err != nil || b == nil {
				if err == nil {
					err = fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
				}
				return err
			}
			return fmt.Errorf("%w: %s/%s", ErrNotFound, bucket, k)
		}
		ok, err = x.fileRecord(o.Digest, &rec)
		if err == nil && !ok {
			err = fmt.Errorf("state lacks file %s of %s/%s", o.Digest.Short(), bucket, k)
		}
		return err
	})
	return o, rec, err
}

// File returns the record of a distinct content, or ErrNotFound.
func (s *State) File(d cas.Digest) (FileRecord, error) {
	var rec FileRecord
	err := s.f.view(func(x *txn) error {
		ok, err := x.fileRecord(d, &rec)
		if err == nil && !ok {
			err = fmt.Errorf("%w: file %s", ErrNotFound, d)
		}
		return err
	})
	return rec, err
}

// ObjectRef names an object.
type ObjectRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// FileUses returns up to limit objects that point to file d.
func (s *State) FileUses(d cas.Digest, limit int) ([]ObjectRef, error) {
	var out []ObjectRef
	p := digestKey(tFileUse, d)
	err := s.f.view(func(x *txn) error {
		return scan(x, p, nil, limit, func(k, _ []byte) error {
			b, key, err := splitBucketKey(k[len(p):])
			out = append(out, ObjectRef{Bucket: b, Key: key})
			return err
		})
	})
	return out, err
}

// ChunkRefs returns up to limit referenced chunks in digest order,
// starting after the digest after (the zero digest: from the start).
func (s *State) ChunkRefs(after cas.Digest, limit int) ([]ChunkRef, error) {
	var out []ChunkRef
	from := digestKey(tChunk, after)
	if after.IsZero() {
		from = nil
	} else {
		from = append(from, 0)
	}
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tChunk}, from, limit, func(k, v []byte) error {
			c := ChunkRef{}
			copy(c.Digest[:], k[1:])
			refs, n := binary.Uvarint(v)
			size, m := binary.Uvarint(v[max(n, 0):])
			if n <= 0 || m <= 0 {
				return fmt.Errorf("decode chunk refs of %s", c.Digest.Short())
			}
			c.Refs, c.Size = int64(refs), int64(size)
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// ChunkRefCount returns how many distinct files need chunk d.
func (s *State) ChunkRefCount(d cas.Digest) (int64, error) {
	var refs int64
	err := s.f.view(func(x *txn) error {
		v, ok, err := x.getRaw(digestKey(tChunk, d))
		if ok {
			n, _ := binary.Uvarint(v)
			refs = int64(n)
		}
		return err
	})
	return refs, err
}

// ZeroChunk is a chunk that no file needs any more since Index.
type ZeroChunk struct {
	Digest cas.Digest
	Index  uint64
}

// ZeroChunks returns up to limit chunks whose reference count fell to
// zero: candidates for garbage collection.
func (s *State) ZeroChunks(limit int) ([]ZeroChunk, error) {
	return s.ZeroChunksAfter(cas.Digest{}, limit)
}

// ZeroChunksAfter is ZeroChunks from the digest after after, for paging:
// pass the last digest of a page to get the next.
func (s *State) ZeroChunksAfter(after cas.Digest, limit int) ([]ZeroChunk, error) {
	var from []byte
	if after != (cas.Digest{}) {
		from = append(digestKey(tZero, after), 0)
	}
	var out []ZeroChunk
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tZero}, from, limit, func(k, v []byte) error {
			z := ZeroChunk{Index: binary.BigEndian.Uint64(v)}
			copy(z.Digest[:], k[1:])
			out = append(out, z)
			return nil
		})
	})
	return out, err
}

// Ref returns a named ref, or ErrNotFound.
func (s *State) Ref(name string) (Ref, error) {
	var r Ref
	err := s.f.view(func(x *txn) error {
		ok, err := x.get(key(tRef, name), &r)
		if err == nil && !ok {
			err = fmt.Errorf("%w: ref %s", ErrNotFound, name)
		}
		return err
	})
	return r, err
}

// Refs returns the refs whose names start with prefix.
func (s *State) Refs(prefix string) ([]Ref, error) {
	var out []Ref
	err := s.f.view(func(x *txn) error {
		return scan(x, key(tRef, prefix), nil, 0, func(_, v []byte) error {
			var r Ref
			err := json.Unmarshal(v, &r)
			out = append(out, r)
			return err
		})
	})
	return out, err
}

// Upload returns an upload in progress, or ErrNoSuchUpload.
func (s *State) Upload(id string) (Upload, []Part, error) {
	var u Upload
	var parts []Part
	err := s.f.view(func(x *txn) error {
		up, err := x.uploads().upload(id)
		if err != nil {
			return err
		}
		if up == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchUpload, id)
		}
		u = *up
		parts, err = x.uploads().parts(id)
		return err
	})
	return u, parts, err
}

// Uploads returns the uploads in progress in bucket whose keys start with
// prefix, ordered by key then upload id.
func (s *State) Uploads(bucket, prefix string) ([]Upload, error) {
	var out []Upload
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tUpload}, nil, 0, func(_, v []byte) error {
			var u Upload
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			if u.Bucket == bucket && strings.HasPrefix(u.Key, prefix) {
				out = append(out, u)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].UploadID < out[j].UploadID
	})
	return out, err
}

// UploadsBefore returns up to limit uploads in progress, in any bucket,
// created before the given time (Unix nanoseconds): those an operator's
// expiry gives up on. They come in upload id order, from the first id
// after afterID ("": the first); a caller pages on from the last one.
func (s *State) UploadsBefore(before int64, afterID string, limit int) ([]Upload, error) {
	var out []Upload
	var from []byte
	if afterID != "" {
		from = append(key(tUpload, afterID), 0) // the first key after afterID's
	}
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tUpload}, from, 0, func(_, v []byte) error {
			var u Upload
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			if u.Time < before {
				out = append(out, u)
				if len(out) == limit {
					return errStopScan
				}
			}
			return nil
		})
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	return out, err
}

// errStopScan ends a scan early; the caller that returned it drops it.
var errStopScan = errors.New("stop scan")

// Dump writes every state key and value except the applied index, in key
// order: two nodes that applied the same log dump the same bytes.
func (s *State) Dump(w io.Writer) error {
	return s.f.view(func(x *txn) error {
		it := x.t.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if bytes.Equal(k, []byte{tApplied}) {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "%q=%q\n", k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// scan calls fn for up to limit (0: all) keys starting with prefix, from
// from (nil: the prefix) on. fn's slices are valid only during the call.
func scan(x *txn, prefix, from []byte, limit int, fn func(k, v []byte) error) error {
	it := x.t.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	if from == nil {
		from = prefix
	}
	n := 0
	for it.Seek(from); it.Valid(); it.Next() {
		if limit > 0 && n == limit {
			return nil
		}
		item := it.Item()
		err := item.Value(func(v []byte) error { return fn(item.Key(), v) })
		if err != nil {
			return err
		}
		n++
	}
	return nil
}
