package raftfsm

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Limits that Apply enforces, the same on every node.
const (
	MaxKeyLength      = 1024
	MaxChunksPerFile  = 1 << 16
	MinPartSize       = 5 << 20 // every part but the last
	MaxPartNumber     = 10000
	MaxDeletePrefix   = 10000
	MaxRefNameLength  = 256
	maxBucketNameSize = 63
)

// A DeletePrefix stops, with More set, once it has written this much, so
// that its transaction stays within Badger's limits (see batchWrites).
// The budget depends on the command and the state only, so every node
// stops at the same key; changing it changes what a command does, like a
// format change.
const (
	deletePrefixWrites = 32 << 10
	deletePrefixBytes  = 2 << 20
)

// Result is what applying a command produced. Err is a rejection: the
// command changed nothing.
type Result struct {
	Index   uint64
	Err     error
	Object  *Object
	Objects []*Object // of a PutObjects, in its order
	Bucket  *Bucket
	Ref     *Ref
	Upload  *Upload
	Key     *AccessKey
	Deleted int
	More    bool
}

func reject(err error) (Result, error) { return Result{Err: err}, nil }

// apply applies one command inside x. A returned error is a storage
// failure; a rejection is in Result.Err, and then nothing was written.
func (x *txn) apply(c Command) (Result, error) {
	if _, err := x.loadStats(); err != nil {
		return Result{}, err
	}
	var (
		r   Result
		err error
	)
	switch c := c.(type) {
	case *CreateBucket:
		r, err = x.createBucket(c)
	case *DeleteBucket:
		r, err = x.deleteBucket(c)
	case *DeleteBucketAndUploads:
		r, err = x.deleteBucketAndUploads(c)
	case *PutObject:
		r, err = x.putObject(c)
	case *CopyObject:
		r, err = x.copyObject(c)
	case *DeleteObject:
		r, err = x.deleteObject(c)
	case *DeletePrefix:
		r, err = x.deletePrefix(c)
	case *PutRef:
		r, err = x.putRef(c)
	case *DeleteRef:
		r, err = x.deleteRef(c)
	case *CreateUpload:
		r, err = x.uploads().createUpload(c)
	case *PutPart:
		r, err = x.uploads().putPart(c)
	case *CompleteUpload:
		r, err = x.uploads().completeUpload(c)
	case *AbortUpload:
		r, err = x.uploads().abortUpload(c)
	case *PutKey:
		r, err = x.putKey(c)
	case *DeleteKey:
		r, err = x.deleteKey(c)
	case *PruneZero:
		r, err = x.pruneZero(c)
	case *TierChunks:
		r, err = x.tier().tierChunks(c)
	case *DoomTiered:
		r, err = x.tier().doomTiered(c)
	case *ForgetTiered:
		r, err = x.tier().forgetTiered(c)
	case *EnableFeature:
		r, err = x.enableFeature(c)
	case *FillETags:
		r, err = x.fillETags(c)
	case *PutObjects:
		r, err = x.putObjects(c)
	default:
		return Result{Err: rejectf(ErrInvalidCommand, "unknown command %v", c.Op())}, nil
	}
	r.Index = x.index
	return r, err
}

// ValidBucketName reports whether name can name a bucket: 3 to 63
// lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit, as S3 requires.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > maxBucketNameSize {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && c != '.' && c != '-' || (i == 0 || i == len(name)-1) && !alnum {
			return false
		}
	}
	return !strings.Contains(name, "..")
}

// ValidKey reports why key cannot name an object, or "" when it can: keys
// are 1 to 1024 bytes of UTF-8 without NUL.
func ValidKey(key string) string {
	switch {
	case key == "":
		return "empty key"
	case len(key) > MaxKeyLength:
		return "key longer than 1024 bytes"
	case strings.IndexByte(key, 0) >= 0:
		return "key holds a NUL byte"
	case !utf8.ValidString(key):
		return "key is not UTF-8"
	}
	return ""
}

func (x *txn) bucket(name string) (*Bucket, error) {
	var b Bucket
	ok, err := x.get(key(tBucket, name), &b)
	if !ok || err != nil {
		return nil, err
	}
	return &b, nil
}

func (x *txn) createBucket(c *CreateBucket) (Result, error) {
	if !ValidBucketName(c.Bucket) {
		return reject(rejectf(ErrInvalidCommand, "invalid bucket name %q", c.Bucket))
	}
	b, err := x.bucket(c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if b != nil {
		if c.IfNotExists {
			return Result{Bucket: b}, nil
		}
		return reject(rejectf(ErrBucketExists, "%s", c.Bucket))
	}
	b = &Bucket{Name: c.Bucket, Created: c.Time}
	x.stats.Buckets++
	return Result{Bucket: b}, x.put(key(tBucket, c.Bucket), b)
}

// emptyBucket returns a bucket that holds no object; rej is the
// rejection when it is missing or holds one, err a storage failure.
func (x *txn) emptyBucket(name string) (b *Bucket, rej, err error) {
	if b, err = x.bucket(name); err != nil {
		return nil, nil, err
	}
	if b == nil {
		return nil, rejectf(ErrNoSuchBucket, "%s", name), nil
	}
	if b.Objects > 0 {
		return nil, rejectf(ErrBucketNotEmpty, "%s holds %d objects", name, b.Objects), nil
	}
	return b, nil, nil
}

// deleteBucket deletes a bucket that holds no object and no upload in
// progress: what op 2 has always done, kept for the entries that carry it.
func (x *txn) deleteBucket(c *DeleteBucket) (Result, error) {
	b, rej, err := x.emptyBucket(c.Bucket)
	if err != nil || rej != nil {
		return Result{Err: rej}, err
	}
	ups, err := x.uploads().uploadsOf(c.Bucket, 1)
	if err != nil {
		return Result{}, err
	}
	if len(ups) > 0 {
		return reject(rejectf(ErrBucketNotEmpty, "%s has multipart uploads in progress", c.Bucket))
	}
	x.stats.Buckets--
	return Result{Bucket: b}, x.del(key(tBucket, c.Bucket))
}

// deleteBucketAndUploads deletes a bucket that holds no object. Uploads
// in progress do not keep it: they are aborted with it, as S3 does, and
// their parts lose their references. Aborting writes for every part and
// every chunk whose last reference goes, so a command stops, with More set
// and the bucket still there, once it has written the budget of a
// DeletePrefix (it always aborts one upload, which fits a transaction as
// an AbortUpload does); the caller repeats it, and the bucket goes with
// the last upload. Each command checks again that the bucket holds no
// object.
func (x *txn) deleteBucketAndUploads(c *DeleteBucketAndUploads) (Result, error) {
	b, rej, err := x.emptyBucket(c.Bucket)
	if err != nil || rej != nil {
		return Result{Err: rej}, err
	}
	ups, err := x.uploads().uploadsOf(c.Bucket, 0)
	if err != nil {
		return Result{}, err
	}
	r := Result{Bucket: b}
	writes, bytes := x.tally.writes, x.tally.bytes
	for _, u := range ups {
		if x.tally.writes-writes >= deletePrefixWrites || x.tally.bytes-bytes >= deletePrefixBytes {
			r.More = true // the rest would make the transaction too large
			return r, nil
		}
		if err := x.uploads().dropUpload(&u); err != nil {
			return Result{}, err
		}
		r.Deleted++
	}
	x.stats.Buckets--
	return r, x.del(key(tBucket, c.Bucket))
}

func (x *txn) object(bucket, k string) (*Object, error) {
	var o Object
	ok, err := x.get(objectKey(bucket, k), &o)
	if !ok || err != nil {
		return nil, err
	}
	return &o, nil
}

// checkConditions applies If-Match and If-None-Match to the current
// object (nil when the key is absent). If-Match on an absent key is
// ErrNotFound, as S3 answers a conditional write: only here, in Apply, can
// absent and present be told apart without a race.
func checkConditions(cond Conditions, cur *Object) error {
	if cond.IfMatch != "" {
		if cur == nil {
			return rejectf(ErrNotFound, "If-Match %s: the key does not exist", cond.IfMatch)
		}
		if !etagMatch(cond.IfMatch, cur.Meta.ETag) {
			return rejectf(ErrPreconditionFailed, "If-Match %s", cond.IfMatch)
		}
	}
	if cond.IfNoneMatch != "" && cur != nil {
		if cond.IfNoneMatch == "*" || etagMatch(cond.IfNoneMatch, cur.Meta.ETag) {
			return rejectf(ErrPreconditionFailed, "If-None-Match %s", cond.IfNoneMatch)
		}
	}
	return nil
}

// etagMatch compares an ETag condition (a list, possibly with W/ and
// quotes, or "*") with an object's ETag.
func etagMatch(cond, etag string) bool {
	for _, c := range strings.Split(cond, ",") {
		if c = strings.TrimSpace(c); c == "*" || normETag(c) == normETag(etag) {
			return true
		}
	}
	return false
}

// sameETag reports whether two single ETags are equal, quotes and a weak
// prefix aside. Unlike etagMatch it takes no list and no "*": a part or a
// completed upload is named by its exact ETag.
func sameETag(a, b string) bool { return a != "" && normETag(a) == normETag(b) }

func normETag(s string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
}

func checkFile(f File) error {
	if len(f.Recipe) > MaxChunksPerFile {
		return rejectf(ErrTooLarge, "file of %d chunks, at most %d", len(f.Recipe), MaxChunksPerFile)
	}
	if f.Recipe.Size() != f.Size {
		return rejectf(ErrInvalidCommand, "recipe holds %d bytes, file size is %d", f.Recipe.Size(), f.Size)
	}
	return nil
}

func (x *txn) putObject(c *PutObject) (Result, error) {
	if why := ValidKey(c.Key); why != "" {
		return reject(rejectf(ErrInvalidCommand, "%s", why))
	}
	if err := checkFile(c.File); err != nil {
		return reject(err)
	}
	b, cur, rej, err := x.destination(c.Bucket, c.Key, c.Conditions)
	if err != nil || rej != nil {
		return Result{Err: rej}, err
	}
	o := &Object{Bucket: c.Bucket, Key: c.Key, Digest: c.File.Digest, Size: c.File.Size, Meta: c.Meta, MTime: c.Time}
	return Result{Object: o}, x.writeObject(b, cur, o, c.File, c.Model)
}

// destination looks up the bucket and the current object (nil when the
// key is new) of a write, and checks the write's conditions. rej is a
// rejection, err a storage failure.
func (x *txn) destination(bucket, key string, cond Conditions) (b *Bucket, cur *Object, rej, err error) {
	if b, err = x.bucket(bucket); err != nil {
		return nil, nil, nil, err
	}
	if b == nil {
		return nil, nil, rejectf(ErrNoSuchBucket, "%s", bucket), nil
	}
	if cur, err = x.object(bucket, key); err != nil {
		return nil, nil, nil, err
	}
	if rej = checkConditions(cond, cur); rej != nil {
		return nil, nil, rej, nil
	}
	return b, cur, nil, nil
}

func (x *txn) copyObject(c *CopyObject) (Result, error) {
	if why := ValidKey(c.Key); why != "" {
		return reject(rejectf(ErrInvalidCommand, "%s", why))
	}
	src, err := x.object(c.SrcBucket, c.SrcKey)
	if err != nil {
		return Result{}, err
	}
	if src == nil {
		return reject(rejectf(ErrNotFound, "%s/%s", c.SrcBucket, c.SrcKey))
	}
	if c.SrcIfMatch != "" && !etagMatch(c.SrcIfMatch, src.Meta.ETag) {
		return reject(rejectf(ErrPreconditionFailed, "source If-Match %s", c.SrcIfMatch))
	}
	b, cur, rej, err := x.destination(c.Bucket, c.Key, c.Conditions)
	if err != nil || rej != nil {
		return Result{Err: rej}, err
	}
	meta := src.Meta
	if c.ReplaceMeta {
		meta = c.Meta
		meta.ETag, meta.Parts, meta.PartSizes = src.Meta.ETag, src.Meta.Parts, src.Meta.PartSizes
		if meta.Checksums == nil {
			meta.Checksums = src.Meta.Checksums
		}
	}
	// A copy of an MLmodel that the proposer did not parse is indexed
	// with the source's parsed fields: they are the same bytes.
	m := c.Model
	if _, base := splitDir(c.Key); m == nil && base == "MLmodel" {
		var se ModelEntry
		ok, err := x.get(key(tModel, src.Bucket, src.Key), &se)
		if err != nil {
			return Result{}, err
		}
		if ok {
			m = &se.Model
		}
	}
	o := &Object{Bucket: c.Bucket, Key: c.Key, Digest: src.Digest, Size: src.Size, Meta: meta, MTime: c.Time}
	return Result{Object: o}, x.writeObject(b, cur, o, File{Digest: src.Digest, Size: src.Size}, m)
}

func (x *txn) deleteObject(c *DeleteObject) (Result, error) {
	b, cur, rej, err := x.destination(c.Bucket, c.Key, c.Conditions)
	if errors.Is(rej, ErrNotFound) {
		// A delete of an absent key is not an error, but its If-Match
		// did not hold.
		rej = rejectf(ErrPreconditionFailed, "If-Match %s: the key does not exist", c.Conditions.IfMatch)
	}
	if err != nil || rej != nil {
		return Result{Err: rej}, err
	}
	if cur == nil {
		return Result{}, nil
	}
	return Result{Object: cur, Deleted: 1}, x.removeObject(b, cur)
}

func (x *txn) deletePrefix(c *DeletePrefix) (Result, error) {
	b, err := x.bucket(c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if b == nil {
		return reject(rejectf(ErrNoSuchBucket, "%s", c.Bucket))
	}
	limit := c.Limit
	if limit <= 0 || limit > MaxDeletePrefix {
		limit = MaxDeletePrefix
	}
	keys, err := x.keys(objectKey(c.Bucket, c.Prefix), nil, limit+1)
	if err != nil {
		return Result{}, err
	}
	var r Result
	if len(keys) > limit {
		keys, r.More = keys[:limit], true
	}
	writes, bytes := x.tally.writes, x.tally.bytes
	for _, k := range keys {
		if x.tally.writes-writes >= deletePrefixWrites || x.tally.bytes-bytes >= deletePrefixBytes {
			r.More = true // the rest would make the transaction too large
			break
		}
		var o Object
		if _, err := x.get(k, &o); err != nil {
			return Result{}, err
		}
		if err := x.removeObject(b, &o); err != nil {
			return Result{}, err
		}
		r.Deleted++
	}
	return r, nil
}
