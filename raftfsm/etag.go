package raftfsm

import (
	"encoding/hex"
	"strings"

	"cairn/cas"
)

// Late ETags. A file the Go client uploaded chunk by chunk may be
// committed before its MD5 (the object's ETag) is computed: its
// ObjectMeta.ETag is then empty and the table 'e' lists the object until
// FillETags gives it the MD5 computed after the acknowledgement. Readers
// asking in between compute it on the spot (daemon/core). Nodes of a
// release before this do not know FillETags, so writers commit an object
// without its ETag only once EnableFeature(FeatureLateETag) is applied,
// which the leader proposes when every member says it knows the feature.

// FeatureLateETag is the feature that lets a commit leave its ETag to
// FillETags.
const FeatureLateETag = "late-etag"

// FillETags gives objects committed without their ETag the MD5 computed
// since. An entry applies only if the key still holds that file with no
// ETag; the key leaves the table of late ETags then, or if it no longer
// holds an object without ETag. An entry with no ETag only does the
// latter (the key was overwritten or deleted since it was listed).
type FillETags struct {
	ETags []ETagFill `json:"etags"`
}

func (FillETags) Op() Op { return OpFillETags }

// ETagFill is the ETag of the object at Bucket/Key if it still holds the
// file Digest.
type ETagFill struct {
	Bucket string     `json:"bucket"`
	Key    string     `json:"key"`
	Digest cas.Digest `json:"digest"`
	ETag   string     `json:"etag,omitempty"` // quoted lowercase hex MD5
}

// MaxETagFills bounds the entries of one FillETags.
const MaxETagFills = 1024

// LateETag reports whether o was committed without its ETag and has not
// been given it yet. A multipart object's ETag is never late.
func LateETag(o *Object) bool { return o.Meta.ETag == "" && o.Meta.Parts == 0 }

// IsMD5ETag reports whether etag is a quoted lowercase hex MD5.
func IsMD5ETag(etag string) bool {
	e, ok := strings.CutPrefix(etag, `"`)
	if !ok {
		return false
	}
	if e, ok = strings.CutSuffix(e, `"`); !ok || len(e) != 32 || strings.ToLower(e) != e {
		return false
	}
	_, err := hex.DecodeString(e)
	return err == nil
}

func lateKey(bucket, k string) []byte { return key(tLateETag, bucket, k) }

func (x *txn) fillETags(c *FillETags) (Result, error) {
	if len(c.ETags) > MaxETagFills {
		return reject(rejectf(ErrTooLarge, "%d ETags to fill, at most %d", len(c.ETags), MaxETagFills))
	}
	for _, f := range c.ETags {
		if f.ETag != "" && !IsMD5ETag(f.ETag) {
			return reject(rejectf(ErrInvalidCommand, "ETag %q of %s/%s is not a quoted MD5", f.ETag, f.Bucket, f.Key))
		}
	}
	n := 0
	for _, f := range c.ETags {
		o, err := x.object(f.Bucket, f.Key)
		if err != nil {
			return Result{}, err
		}
		switch {
		case o == nil || !LateETag(o):
		case f.ETag != "" && o.Digest == f.Digest:
			o.Meta.ETag = f.ETag
			if err := x.put(objectKey(o.Bucket, o.Key), o); err != nil {
				return Result{}, err
			}
			n++
		default:
			continue // another late file took the key: it stays listed
		}
		if err := x.del(lateKey(f.Bucket, f.Key)); err != nil {
			return Result{}, err
		}
	}
	return Result{Deleted: n}, nil
}

// trackLateETag keeps the table of late ETags true as the object at a
// key goes from cur to o (either may be nil).
func (x *txn) trackLateETag(cur, o *Object) error {
	switch {
	case o != nil && LateETag(o):
		return x.set(lateKey(o.Bucket, o.Key), nil)
	case cur != nil && LateETag(cur):
		return x.del(lateKey(cur.Bucket, cur.Key))
	}
	return nil
}

// LateETags returns up to limit objects listed as waiting for their ETag,
// in key order after the object after (nil: from the first).
func (s *State) LateETags(after *ObjectRef, limit int) ([]ObjectRef, error) {
	var out []ObjectRef
	p := []byte{tLateETag}
	var from []byte
	if after != nil {
		from = append(lateKey(after.Bucket, after.Key), 0)
	}
	err := s.f.view(func(x *txn) error {
		return scan(x, p, from, limit, func(k, _ []byte) error {
			b, key, err := splitBucketKey(k[1:])
			out = append(out, ObjectRef{Bucket: b, Key: key})
			return err
		})
	})
	return out, err
}
