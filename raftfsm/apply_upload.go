package raftfsm

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"cairn/cas"
)

func (x *txn) putRef(c *PutRef) (Result, error) {
	if c.Name == "" || len(c.Name) > MaxRefNameLength || strings.IndexByte(c.Name, 0) >= 0 {
		return reject(rejectf(ErrInvalidCommand, "invalid ref name %q", c.Name))
	}
	var cur Ref
	ok, err := x.get(key(tRef, c.Name), &cur)
	if err != nil {
		return Result{}, err
	}
	if c.IfVersion != nil && *c.IfVersion != cur.Version {
		return reject(rejectf(ErrConflict, "ref %s is at version %d, not %d", c.Name, cur.Version, *c.IfVersion))
	}
	_ = ok
	r := &Ref{Name: c.Name, Target: c.Target, Version: x.index, Time: c.Time}
	return Result{Ref: r}, x.put(key(tRef, c.Name), r)
}

func (x *txn) deleteRef(c *DeleteRef) (Result, error) {
	var cur Ref
	ok, err := x.get(key(tRef, c.Name), &cur)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return reject(rejectf(ErrNotFound, "ref %s", c.Name))
	}
	if c.IfVersion != nil && *c.IfVersion != cur.Version {
		return reject(rejectf(ErrConflict, "ref %s is at version %d, not %d", c.Name, cur.Version, *c.IfVersion))
	}
	return Result{Ref: &cur}, x.del(key(tRef, c.Name))
}

func (ut uploadTxn) upload(id string) (*Upload, error) {
	x := ut.x
	var u Upload
	ok, err := x.get(key(tUpload, id), &u)
	if !ok || err != nil {
		return nil, err
	}
	return &u, nil
}

// uploadsOf returns up to limit uploads in bucket.
func (ut uploadTxn) uploadsOf(bucket string, limit int) ([]Upload, error) {
	x := ut.x
	keys, err := x.keys([]byte{tUpload}, nil, 0)
	if err != nil {
		return nil, err
	}
	var out []Upload
	for _, k := range keys {
		var u Upload
		if _, err := x.get(k, &u); err != nil {
			return nil, err
		}
		if u.Bucket == bucket {
			out = append(out, u)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func (ut uploadTxn) createUpload(c *CreateUpload) (Result, error) {
	x := ut.x
	if why := ValidKey(c.Key); why != "" {
		return reject(rejectf(ErrInvalidCommand, "%s", why))
	}
	if c.UploadID == "" || strings.IndexByte(c.UploadID, 0) >= 0 {
		return reject(rejectf(ErrInvalidCommand, "invalid upload id"))
	}
	b, err := x.bucket(c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if b == nil {
		return reject(rejectf(ErrNoSuchBucket, "%s", c.Bucket))
	}
	if u, err := x.uploads().upload(c.UploadID); err != nil || u != nil {
		if err != nil {
			return Result{}, err
		}
		return reject(rejectf(ErrInvalidCommand, "upload %s exists", c.UploadID))
	}
	u := &Upload{UploadID: c.UploadID, Bucket: c.Bucket, Key: c.Key, Meta: c.Meta, Time: c.Time}
	x.stats.Uploads++
	return Result{Upload: u}, x.put(key(tUpload, c.UploadID), u)
}

func (ut uploadTxn) part(id string, n int) (*Part, error) {
	x := ut.x
	var p Part
	ok, err := x.get(partKey(id, n), &p)
	if !ok || err != nil {
		return nil, err
	}
	return &p, nil
}

func (ut uploadTxn) putPart(c *PutPart) (Result, error) {
	x := ut.x
	u, err := x.uploads().upload(c.UploadID)
	if err != nil {
		return Result{}, err
	}
	if u == nil {
		return reject(rejectf(ErrNoSuchUpload, "%s", c.UploadID))
	}
	if c.Number < 1 || c.Number > MaxPartNumber {
		return reject(rejectf(ErrInvalidPart, "part number %d outside 1..%d", c.Number, MaxPartNumber))
	}
	if err := checkFile(c.File); err != nil {
		return reject(err)
	}
	old, err := x.uploads().part(c.UploadID, c.Number)
	if err != nil {
		return Result{}, err
	}
	chunks := u.Chunks + len(c.File.Recipe)
	if old != nil {
		chunks -= old.Chunks
	}
	if chunks > MaxChunksPerFile {
		return reject(rejectf(ErrTooLarge, "upload %s would hold %d chunks, more than a file may (%d)", c.UploadID, chunks, MaxChunksPerFile))
	}
	if err := x.incref(c.File); err != nil {
		return Result{}, err
	}
	if old != nil {
		if err := x.decref(old.Digest); err != nil {
			return Result{}, err
		}
	}
	u.Chunks = chunks
	if err := x.put(key(tUpload, u.UploadID), u); err != nil {
		return Result{}, err
	}
	p := Part{Number: c.Number, Digest: c.File.Digest, Size: c.File.Size, ETag: c.ETag, Checksums: c.Checksums, Time: c.Time,
		Chunks: len(c.File.Recipe)}
	return Result{Upload: u}, x.put(partKey(c.UploadID, c.Number), p)
}

// parts returns every part of an upload in number order.
func (ut uploadTxn) parts(id string) ([]Part, error) {
	x := ut.x
	prefix := key(tPart, id, "")
	keys, err := x.keys(prefix, nil, 0)
	if err != nil {
		return nil, err
	}
	out := make([]Part, 0, len(keys))
	for _, k := range keys {
		var p Part
		if _, err := x.get(k, &p); err != nil {
			return nil, err
		}
		if int(binary.BigEndian.Uint32(k[len(prefix):])) != p.Number {
			return nil, fmt.Errorf("part key %q disagrees with its record", k)
		}
		out = append(out, p)
	}
	return out, nil
}

func (ut uploadTxn) completeUpload(c *CompleteUpload) (Result, error) {
	x := ut.x
	u, err := x.uploads().upload(c.UploadID)
	if err != nil {
		return Result{}, err
	}
	if u == nil {
		// A retried Complete of an upload that already completed with
		// the same parts succeeds with the object it made.
		cur, err := x.object(c.Bucket, c.Key)
		if err != nil {
			return Result{}, err
		}
		if cur != nil && cur.UploadID == c.UploadID && sameETag(c.ETag, cur.Meta.ETag) {
			return Result{Object: cur}, nil
		}
		return reject(rejectf(ErrNoSuchUpload, "%s", c.UploadID))
	}
	if u.Bucket != c.Bucket || u.Key != c.Key {
		return reject(rejectf(ErrNoSuchUpload, "%s is not an upload of %s/%s", c.UploadID, c.Bucket, c.Key))
	}
	if err := checkFile(c.File); err != nil {
		return reject(err)
	}
	if len(c.Parts) == 0 {
		return reject(rejectf(ErrInvalidPart, "no parts"))
	}
	var size int64
	sizes := make([]int64, 0, len(c.Parts))
	recipe := make(cas.Recipe, 0, len(c.File.Recipe))
	for i, cp := range c.Parts {
		if i > 0 && cp.Number <= c.Parts[i-1].Number {
			return reject(rejectf(ErrInvalidPart, "part numbers not ascending at %d", cp.Number))
		}
		p, err := x.uploads().part(c.UploadID, cp.Number)
		if err != nil {
			return Result{}, err
		}
		if p == nil || !sameETag(cp.ETag, p.ETag) {
			return reject(rejectf(ErrInvalidPart, "part %d with ETag %s not uploaded", cp.Number, cp.ETag))
		}
		if p.Digest != cp.Digest {
			return reject(rejectf(ErrInvalidPart, "part %d was replaced during completion", cp.Number))
		}
		if i < len(c.Parts)-1 && p.Size < MinPartSize {
			return reject(rejectf(ErrTooSmall, "part %d is %d bytes, below the %d minimum", cp.Number, p.Size, MinPartSize))
		}
		size += p.Size
		sizes = append(sizes, p.Size)
		var rec FileRecord
		if ok, err := x.fileRecord(p.Digest, &rec); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("state lacks file %s of part %d of upload %s", p.Digest.Short(), p.Number, c.UploadID)
			}
			return Result{}, err
		}
		recipe = append(recipe, rec.Recipe...)
	}
	if size != c.File.Size {
		return reject(rejectf(ErrInvalidCommand, "parts hold %d bytes, file %d", size, c.File.Size))
	}
	// The file must be the parts one after the other: its chunks are then
	// the parts' chunks, which the cluster holds.
	if !slices.Equal(recipe, c.File.Recipe) {
		return reject(rejectf(ErrInvalidCommand, "file recipe is not the parts' recipes in order"))
	}
	b, cur, rej, err := x.destination(c.Bucket, c.Key, c.Conditions)
	if err != nil || rej != nil {
		return Result{Err: rej}, err
	}
	meta := u.Meta
	meta.ETag, meta.Parts, meta.PartSizes, meta.Checksums = c.ETag, len(c.Parts), sizes, c.Checksums
	o := &Object{Bucket: c.Bucket, Key: c.Key, Digest: c.File.Digest, Size: c.File.Size, Meta: meta, MTime: c.Time, UploadID: c.UploadID}
	if err := x.writeObject(b, cur, o, c.File, c.Model); err != nil {
		return Result{}, err
	}
	return Result{Object: o, Upload: u}, x.uploads().dropUpload(u)
}

func (ut uploadTxn) abortUpload(c *AbortUpload) (Result, error) {
	x := ut.x
	u, err := x.uploads().upload(c.UploadID)
	if err != nil {
		return Result{}, err
	}
	if u == nil {
		return reject(rejectf(ErrNoSuchUpload, "%s", c.UploadID))
	}
	return Result{Upload: u}, x.uploads().dropUpload(u)
}

// dropUpload removes an upload and the references its parts hold.
func (ut uploadTxn) dropUpload(u *Upload) error {
	x := ut.x
	parts, err := x.uploads().parts(u.UploadID)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := x.decref(p.Digest); err != nil {
			return err
		}
		if err := x.del(partKey(u.UploadID, p.Number)); err != nil {
			return err
		}
	}
	x.stats.Uploads--
	return x.del(key(tUpload, u.UploadID))
}

// uploadTxn applies the commands of multipart uploads within a txn.
type uploadTxn struct{ x *txn }

func (x *txn) uploads() uploadTxn { return uploadTxn{x} }
