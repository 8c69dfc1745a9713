package raftfsm

import (
	"encoding/json"
	"fmt"

	"cairn/cas"
)

// Op is the type of a command: the first byte of its encoding. Ops are
// never renumbered; an incompatible change gets a new Op.
type Op uint8

const (
	OpCreateBucket   Op = 1
	OpDeleteBucket   Op = 2
	OpPutObject      Op = 3
	OpDeleteObject   Op = 4
	OpDeletePrefix   Op = 5
	OpPutRef         Op = 6
	OpDeleteRef      Op = 7
	OpCreateUpload   Op = 8
	OpPutPart        Op = 9
	OpCompleteUpload Op = 10
	OpAbortUpload    Op = 11
	OpCopyObject     Op = 12
	// OpDeleteBucketAndUploads aborts the uploads that OpDeleteBucket
	// refuses for: a new op, so that no node applies one entry two ways.
	OpDeleteBucketAndUploads Op = 13
	OpPutKey                 Op = 14
	OpDeleteKey              Op = 15
	OpPruneZero              Op = 16
	OpTierChunks             Op = 17
	OpDoomTiered             Op = 18
	OpForgetTiered           Op = 19
	OpEnableFeature          Op = 20
	OpFillETags              Op = 21
	OpPutObjects             Op = 22
)

var opNames = map[Op]string{
	OpCreateBucket: "create-bucket", OpDeleteBucket: "delete-bucket",
	OpPutObject: "put-object", OpDeleteObject: "delete-object", OpDeletePrefix: "delete-prefix",
	OpPutRef: "put-ref", OpDeleteRef: "delete-ref",
	OpCreateUpload: "create-upload", OpPutPart: "put-part", OpCompleteUpload: "complete-upload",
	OpAbortUpload: "abort-upload", OpCopyObject: "copy-object",
	OpDeleteBucketAndUploads: "delete-bucket-and-uploads",
	OpPutKey:                 "put-key", OpDeleteKey: "delete-key", OpPruneZero: "prune-zero",
	OpTierChunks: "tier-chunks", OpDoomTiered: "doom-tiered", OpForgetTiered: "forget-tiered",
	OpEnableFeature: "enable-feature", OpFillETags: "fill-etags", OpPutObjects: "put-objects",
}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Command is a change to the replicated state. Its encoding (Encode) is one
// byte of Op followed by the JSON of the command's body.
type Command interface {
	Op() Op
}

// CreateBucket creates a bucket. With IfNotExists, an existing bucket is
// not an error.
type CreateBucket struct {
	Bucket      string `json:"bucket"`
	IfNotExists bool   `json:"if_not_exists,omitempty"`
	Time        int64  `json:"time"` // unix nanoseconds, set by the proposer
}

// DeleteBucket deletes a bucket that holds no object and no upload in
// progress. The daemon proposes DeleteBucketAndUploads instead; this one
// stays for the entries that carry it.
type DeleteBucket struct {
	Bucket string `json:"bucket"`
}

// DeleteBucketAndUploads deletes a bucket that holds no object, aborting
// its uploads in progress. With many uploads it may stop with More set,
// the bucket still there: the caller repeats it.
type DeleteBucketAndUploads struct {
	Bucket string `json:"bucket"`
}

// File is the content an object points to: the digest of the whole file,
// its length and its recipe.
type File struct {
	Digest cas.Digest `json:"digest"`
	Size   int64      `json:"size"`
	Recipe cas.Recipe `json:"-"`
}

// fileJSON carries the recipe in its compact binary form.
type fileJSON struct {
	Digest cas.Digest `json:"digest"`
	Size   int64      `json:"size"`
	Recipe []byte     `json:"recipe"`
}

// MarshalJSON encodes the recipe compactly.
func (f File) MarshalJSON() ([]byte, error) {
	r, _ := f.Recipe.MarshalBinary()
	return json.Marshal(fileJSON{Digest: f.Digest, Size: f.Size, Recipe: r})
}

// UnmarshalJSON decodes what MarshalJSON writes and checks that the recipe
// adds up to the size.
func (f *File) UnmarshalJSON(b []byte) error {
	var j fileJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	f.Digest, f.Size = j.Digest, j.Size
	if err := f.Recipe.UnmarshalBinary(j.Recipe); err != nil {
		return err
	}
	if f.Recipe.Size() != f.Size {
		return fmt.Errorf("recipe holds %d bytes, file size is %d", f.Recipe.Size(), f.Size)
	}
	return nil
}

// ObjectMeta is what a writer says about an object besides its content.
type ObjectMeta struct {
	ContentType        string            `json:"content_type,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
	ContentLanguage    string            `json:"content_language,omitempty"`
	CacheControl       string            `json:"cache_control,omitempty"`
	Expires            string            `json:"expires,omitempty"`
	User               map[string]string `json:"user,omitempty"`      // x-amz-meta-*
	Checksums          map[string]string `json:"checksums,omitempty"` // algorithm -> base64 value
	ETag               string            `json:"etag"`                // as S3 shows it, quoted
	Parts              int               `json:"parts,omitempty"`     // part count of a multipart object
	PartSizes          []int64           `json:"part_sizes,omitempty"`
}

// Conditions make a write conditional on the key's current object.
type Conditions struct {
	IfMatch     string `json:"if_match,omitempty"`      // ETag the current object must have
	IfNoneMatch string `json:"if_none_match,omitempty"` // "*": the key must not exist; or an ETag it must not have
}

// PutObject makes Bucket/Key point to File. Model is set when the key is an
// MLmodel file: the daemon parsed it before proposing.
type PutObject struct {
	Bucket     string     `json:"bucket"`
	Key        string     `json:"key"`
	File       File       `json:"file"`
	Meta       ObjectMeta `json:"meta"`
	Time       int64      `json:"time"`
	Model      *Model     `json:"model,omitempty"`
	Conditions Conditions `json:"conditions"`
}

// CopyObject points Dst to the file Src points to; no bytes move.
// With ReplaceMeta the copy takes Meta, otherwise Src's metadata.
type CopyObject struct {
	SrcBucket   string     `json:"src_bucket"`
	SrcKey      string     `json:"src_key"`
	Bucket      string     `json:"bucket"`
	Key         string     `json:"key"`
	ReplaceMeta bool       `json:"replace_meta,omitempty"`
	Meta        ObjectMeta `json:"meta"`
	Time        int64      `json:"time"`
	Model       *Model     `json:"model,omitempty"`
	SrcIfMatch  string     `json:"src_if_match,omitempty"`
	Conditions  Conditions `json:"conditions"`
}

// DeleteObject removes a key; a missing key is not an error.
type DeleteObject struct {
	Bucket     string     `json:"bucket"`
	Key        string     `json:"key"`
	Conditions Conditions `json:"conditions"`
}

// DeletePrefix removes up to Limit keys under Prefix, in key order. The
// result says how many went and whether more remain. It may stop before
// Limit when the keys it removed hold many chunks, with More set; the
// caller repeats it until More is false.
type DeletePrefix struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	Limit  int    `json:"limit"`
}

// PutRef sets a named ref. With IfVersion set, the ref's current version
// must equal it (0: the ref must not exist): compare-and-swap.
type PutRef struct {
	Name      string  `json:"name"`
	Target    string  `json:"target"`
	IfVersion *uint64 `json:"if_version,omitempty"`
	Time      int64   `json:"time"`
}

// DeleteRef removes a named ref, optionally only at a given version.
type DeleteRef struct {
	Name      string  `json:"name"`
	IfVersion *uint64 `json:"if_version,omitempty"`
}

func (CreateBucket) Op() Op           { return OpCreateBucket }
func (DeleteBucket) Op() Op           { return OpDeleteBucket }
func (DeleteBucketAndUploads) Op() Op { return OpDeleteBucketAndUploads }
func (PutObject) Op() Op              { return OpPutObject }
func (CopyObject) Op() Op             { return OpCopyObject }
func (DeleteObject) Op() Op           { return OpDeleteObject }
func (DeletePrefix) Op() Op           { return OpDeletePrefix }
func (PutRef) Op() Op                 { return OpPutRef }
func (DeleteRef) Op() Op              { return OpDeleteRef }
func (CreateUpload) Op() Op           { return OpCreateUpload }
func (PutPart) Op() Op                { return OpPutPart }
func (CompleteUpload) Op() Op         { return OpCompleteUpload }
func (AbortUpload) Op() Op            { return OpAbortUpload }

// Encode returns the wire form of c: its Op byte and its JSON.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", c.Op(), err)
	}
	return append([]byte{byte(c.Op())}, body...), nil
}

// Decode parses the wire form of a command.
func Decode(b []byte) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrInvalidCommand, len(b))
	}
	var c Command
	switch Op(b[0]) {
	case OpCreateBucket:
		c = &CreateBucket{}
	case OpDeleteBucket:
		c = &DeleteBucket{}
	case OpDeleteBucketAndUploads:
		c = &DeleteBucketAndUploads{}
	case OpPutObject:
		c = &PutObject{}
	case OpCopyObject:
		c = &CopyObject{}
	case OpDeleteObject:
		c = &DeleteObject{}
	case OpDeletePrefix:
		c = &DeletePrefix{}
	case OpPutRef:
		c = &PutRef{}
	case OpDeleteRef:
		c = &DeleteRef{}
	case OpCreateUpload:
		c = &CreateUpload{}
	case OpPutPart:
		c = &PutPart{}
	case OpCompleteUpload:
		c = &CompleteUpload{}
	case OpAbortUpload:
		c = &AbortUpload{}
	case OpPutKey:
		c = &PutKey{}
	case OpDeleteKey:
		c = &DeleteKey{}
	case OpPruneZero:
		c = &PruneZero{}
	case OpTierChunks:
		c = &TierChunks{}
	case OpDoomTiered:
		c = &DoomTiered{}
	case OpForgetTiered:
		c = &ForgetTiered{}
	case OpEnableFeature:
		c = &EnableFeature{}
	case OpFillETags:
		c = &FillETags{}
	case OpPutObjects:
		c = &PutObjects{}
	default:
		return nil, fmt.Errorf("%w: unknown op %d", ErrInvalidCommand, b[0])
	}
	if err := json.Unmarshal(b[1:], c); err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrInvalidCommand, Op(b[0]), err)
	}
	return c, nil
}
