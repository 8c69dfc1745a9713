package raftfsm

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"cairn/cas"
)

const mib = 1 << 20

// bigPart is a part of exactly the minimum size, made of one chunk.
func bigPart(label string) File { return fileOf(chunkOf(label, MinPartSize)) }

// rejectFixture is a state holding a bit of everything, for commands that
// must be refused without changing it.
func rejectFixture(t *testing.T) *testFSM {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bk1", Time: 1})
	h.ok(t, &CreateBucket{Bucket: "bk2", Time: 1})
	h.ok(t, &PutObject{Bucket: "bk1", Key: "k", File: smallFile("v1"), Meta: ObjectMeta{ETag: `"e1"`}, Time: 2})
	h.ok(t, &CreateUpload{UploadID: "up", Bucket: "bk2", Key: "big", Time: 3})
	h.ok(t, &PutPart{UploadID: "up", Number: 1, File: bigPart("p1"), ETag: `"p1"`, Time: 4})
	h.ok(t, &PutPart{UploadID: "up", Number: 2, File: smallFile("tail"), ETag: `"p2"`, Time: 4})
	h.ok(t, &PutPart{UploadID: "up", Number: 3, File: smallFile("small"), ETag: `"p3"`, Time: 4})
	h.ok(t, &PutPart{UploadID: "up", Number: 4, File: bigPart("p4"), ETag: `"p4"`, Time: 4})
	h.ok(t, &PutRef{Name: "prod", Target: "bk1/k", IfVersion: u64(0), Time: 5})
	return h
}

// TestApply_Rejected proves that every refused command reports the right
// error and leaves the state exactly as it was (the helper compares dumps).
func TestApply_Rejected(t *testing.T) {
	h := rejectFixture(t)
	ref, err := h.s.Ref("prod")
	if err != nil {
		t.Fatal(err)
	}
	p1, p2, p3, p4 := bigPart("p1"), smallFile("tail"), smallFile("small"), bigPart("p4")
	complete := func(parts []CompletePart, f File) *CompleteUpload {
		return &CompleteUpload{UploadID: "up", Bucket: "bk2", Key: "big", Parts: parts, File: f, ETag: `"done-2"`, Time: 9}
	}
	tooMany := make(cas.Recipe, MaxChunksPerFile+1)
	for i := range tooMany {
		tooMany[i] = chunkOf("x", 1)
	}
	cases := []struct {
		name string
		cmd  Command
		want error
	}{
		{"CreateBucket/Exists", &CreateBucket{Bucket: "bk1"}, ErrBucketExists},
		{"CreateBucket/BadName", &CreateBucket{Bucket: "No_Caps"}, ErrInvalidCommand},
		{"CreateBucket/Short", &CreateBucket{Bucket: "ab"}, ErrInvalidCommand},
		{"CreateBucket/DotDot", &CreateBucket{Bucket: "a..b"}, ErrInvalidCommand},
		{"DeleteBucket/Missing", &DeleteBucket{Bucket: "nope"}, ErrNoSuchBucket},
		{"DeleteBucket/NotEmpty", &DeleteBucket{Bucket: "bk1"}, ErrBucketNotEmpty},
		{"DeleteBucket/UploadInProgress", &DeleteBucket{Bucket: "bk2"}, ErrBucketNotEmpty},
		{"DeleteBucketAndUploads/Missing", &DeleteBucketAndUploads{Bucket: "nope"}, ErrNoSuchBucket},
		{"DeleteBucketAndUploads/NotEmpty", &DeleteBucketAndUploads{Bucket: "bk1"}, ErrBucketNotEmpty},
		{"Put/NoBucket", &PutObject{Bucket: "nope", Key: "k", File: smallFile("x")}, ErrNoSuchBucket},
		{"Put/EmptyKey", &PutObject{Bucket: "bk1", Key: "", File: smallFile("x")}, ErrInvalidCommand},
		{"Put/NULKey", &PutObject{Bucket: "bk1", Key: "a\x00b", File: smallFile("x")}, ErrInvalidCommand},
		{"Put/LongKey", &PutObject{Bucket: "bk1", Key: strings.Repeat("k", MaxKeyLength+1), File: smallFile("x")}, ErrInvalidCommand},
		{"Put/TooManyChunks", &PutObject{Bucket: "bk1", Key: "huge", File: fileOf(tooMany...)}, ErrTooLarge},
		{"Put/IfNoneMatchStar", &PutObject{Bucket: "bk1", Key: "k", File: smallFile("x"), Conditions: Conditions{IfNoneMatch: "*"}}, ErrPreconditionFailed},
		{"Put/IfNoneMatchETag", &PutObject{Bucket: "bk1", Key: "k", File: smallFile("x"), Conditions: Conditions{IfNoneMatch: `"zz", "e1"`}}, ErrPreconditionFailed},
		{"Put/IfMatchWrong", &PutObject{Bucket: "bk1", Key: "k", File: smallFile("x"), Conditions: Conditions{IfMatch: `"e2"`}}, ErrPreconditionFailed},
		{"Put/IfMatchAbsent", &PutObject{Bucket: "bk1", Key: "absent", File: smallFile("x"), Conditions: Conditions{IfMatch: `"e1"`}}, ErrNotFound},
		{"Put/IfMatchStarAbsent", &PutObject{Bucket: "bk1", Key: "absent", File: smallFile("x"), Conditions: Conditions{IfMatch: "*"}}, ErrNotFound},
		{"Copy/SourceMissing", &CopyObject{SrcBucket: "bk1", SrcKey: "absent", Bucket: "bk1", Key: "c"}, ErrNotFound},
		{"Copy/SourceBucketMissing", &CopyObject{SrcBucket: "nope", SrcKey: "k", Bucket: "bk1", Key: "c"}, ErrNotFound},
		{"Copy/DestBucketMissing", &CopyObject{SrcBucket: "bk1", SrcKey: "k", Bucket: "nope", Key: "c"}, ErrNoSuchBucket},
		{"Copy/SourceIfMatch", &CopyObject{SrcBucket: "bk1", SrcKey: "k", Bucket: "bk1", Key: "c", SrcIfMatch: `"other"`}, ErrPreconditionFailed},
		{"Copy/DestIfNoneMatch", &CopyObject{SrcBucket: "bk1", SrcKey: "k", Bucket: "bk1", Key: "k", ReplaceMeta: true, Conditions: Conditions{IfNoneMatch: "*"}}, ErrPreconditionFailed},
		{"Copy/DestIfMatchAbsent", &CopyObject{SrcBucket: "bk1", SrcKey: "k", Bucket: "bk1", Key: "absent", Conditions: Conditions{IfMatch: `"e1"`}}, ErrNotFound},
		{"Copy/BadKey", &CopyObject{SrcBucket: "bk1", SrcKey: "k", Bucket: "bk1", Key: ""}, ErrInvalidCommand},
		{"Delete/NoBucket", &DeleteObject{Bucket: "nope", Key: "k"}, ErrNoSuchBucket},
		{"Delete/NoBucketIfMatch", &DeleteObject{Bucket: "nope", Key: "k", Conditions: Conditions{IfMatch: `"e1"`}}, ErrNoSuchBucket},
		{"Delete/IfMatchWrong", &DeleteObject{Bucket: "bk1", Key: "k", Conditions: Conditions{IfMatch: `"e9"`}}, ErrPreconditionFailed},
		{"Delete/IfMatchAbsent", &DeleteObject{Bucket: "bk1", Key: "absent", Conditions: Conditions{IfMatch: `"e1"`}}, ErrPreconditionFailed},
		{"DeletePrefix/NoBucket", &DeletePrefix{Bucket: "nope", Prefix: ""}, ErrNoSuchBucket},
		{"PutRef/EmptyName", &PutRef{Name: "", Target: "x"}, ErrInvalidCommand},
		{"PutRef/LongName", &PutRef{Name: strings.Repeat("r", MaxRefNameLength+1), Target: "x"}, ErrInvalidCommand},
		{"PutRef/CreateExisting", &PutRef{Name: "prod", Target: "x", IfVersion: u64(0)}, ErrConflict},
		{"PutRef/Stale", &PutRef{Name: "prod", Target: "x", IfVersion: u64(ref.Version - 1)}, ErrConflict},
		{"PutRef/AbsentAtVersion", &PutRef{Name: "new", Target: "x", IfVersion: u64(ref.Version)}, ErrConflict},
		{"DeleteRef/Missing", &DeleteRef{Name: "nope"}, ErrNotFound},
		{"DeleteRef/Stale", &DeleteRef{Name: "prod", IfVersion: u64(ref.Version + 1)}, ErrConflict},
		{"CreateUpload/NoBucket", &CreateUpload{UploadID: "u9", Bucket: "nope", Key: "k"}, ErrNoSuchBucket},
		{"CreateUpload/Duplicate", &CreateUpload{UploadID: "up", Bucket: "bk2", Key: "k"}, ErrInvalidCommand},
		{"CreateUpload/EmptyID", &CreateUpload{UploadID: "", Bucket: "bk2", Key: "k"}, ErrInvalidCommand},
		{"CreateUpload/BadKey", &CreateUpload{UploadID: "u9", Bucket: "bk2", Key: ""}, ErrInvalidCommand},
		{"PutPart/NoUpload", &PutPart{UploadID: "nope", Number: 1, File: smallFile("x")}, ErrNoSuchUpload},
		{"PutPart/NumberZero", &PutPart{UploadID: "up", Number: 0, File: smallFile("x")}, ErrInvalidPart},
		{"PutPart/NumberTooHigh", &PutPart{UploadID: "up", Number: MaxPartNumber + 1, File: smallFile("x")}, ErrInvalidPart},
		{"PutPart/TooManyChunks", &PutPart{UploadID: "up", Number: 4, File: fileOf(tooMany...)}, ErrTooLarge},
		{"Complete/NoUpload", &CompleteUpload{UploadID: "nope", Bucket: "bk2", Key: "big", Parts: []CompletePart{{1, `"p1"`, p1.Digest}}, File: p1, ETag: `"x"`}, ErrNoSuchUpload},
		{"Complete/OtherKey", &CompleteUpload{UploadID: "up", Bucket: "bk2", Key: "other", Parts: []CompletePart{{1, `"p1"`, p1.Digest}}, File: p1, ETag: `"x"`}, ErrNoSuchUpload},
		{"Complete/NoParts", complete(nil, File{Recipe: cas.Recipe{}}), ErrInvalidPart},
		{"Complete/Descending", complete([]CompletePart{{4, `"p4"`, p4.Digest}, {1, `"p1"`, p1.Digest}}, concat(p4, p1)), ErrInvalidPart},
		{"Complete/Repeated", complete([]CompletePart{{1, `"p1"`, p1.Digest}, {1, `"p1"`, p1.Digest}}, concat(p1, p1)), ErrInvalidPart},
		{"Complete/WrongETag", complete([]CompletePart{{1, `"p9"`, p1.Digest}, {2, `"p2"`, p2.Digest}}, concat(p1, p2)), ErrInvalidPart},
		{"Complete/StarETag", complete([]CompletePart{{1, `*`, p1.Digest}, {2, `"p2"`, p2.Digest}}, concat(p1, p2)), ErrInvalidPart},
		{"Complete/MissingPart", complete([]CompletePart{{1, `"p1"`, p1.Digest}, {7, `"p2"`, p2.Digest}}, concat(p1, p2)), ErrInvalidPart},
		{"Complete/SmallBeforeLast", complete([]CompletePart{{2, `"p2"`, p2.Digest}, {3, `"p3"`, p3.Digest}}, concat(p2, p3)), ErrTooSmall},
		{"Complete/DigestChanged", complete([]CompletePart{{1, `"p1"`, p2.Digest}, {2, `"p2"`, p2.Digest}}, concat(p1, p2)), ErrInvalidPart},
		{"Complete/IfMatchAbsent", &CompleteUpload{UploadID: "up", Bucket: "bk2", Key: "big", Parts: []CompletePart{{1, `"p1"`, p1.Digest}, {2, `"p2"`, p2.Digest}},
			File: concat(p1, p2), ETag: `"done-2"`, Time: 9, Conditions: Conditions{IfMatch: `"done-2"`}}, ErrNotFound},
		{"Complete/SizeMismatch", complete([]CompletePart{{1, `"p1"`, p1.Digest}, {2, `"p2"`, p2.Digest}}, concat(p1)), ErrInvalidCommand},
		{"Abort/NoUpload", &AbortUpload{UploadID: "nope"}, ErrNoSuchUpload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { h.reject(t, tc.cmd, tc.want) })
	}
	// The fixture is intact: the upload can still complete.
	h.ok(t, complete([]CompletePart{{1, `"p1"`, p1.Digest}, {2, `"p2"`, p2.Digest}}, concat(p1, p2)))
}

// TestApply_Bucket covers creating and deleting buckets, IfNotExists,
// and what keeps a bucket from being deleted.
func TestApply_Bucket(t *testing.T) {
	t.Run("CreateDelete", func(t *testing.T) {
		h := newTestFSM(t)
		r := h.ok(t, &CreateBucket{Bucket: "ml.flow-1", Time: 42})
		if r.Bucket == nil || r.Bucket.Name != "ml.flow-1" || r.Bucket.Created != 42 {
			t.Fatalf("result bucket %+v", r.Bucket)
		}
		b, err := h.s.Bucket("ml.flow-1")
		if err != nil || b.Created != 42 || b.Objects != 0 {
			t.Fatalf("bucket %+v, %v", b, err)
		}
		// IfNotExists on an existing bucket succeeds and keeps it as it was.
		h.ok(t, &CreateBucket{Bucket: "ml.flow-1", IfNotExists: true, Time: 99})
		if b, _ := h.s.Bucket("ml.flow-1"); b.Created != 42 {
			t.Fatalf("IfNotExists changed the bucket: %+v", b)
		}
		if st := mustStats(t, h.s); st.Buckets != 1 {
			t.Fatalf("stats %+v", st)
		}
		h.ok(t, &DeleteBucket{Bucket: "ml.flow-1"})
		if _, err := h.s.Bucket("ml.flow-1"); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("deleted bucket: %v", err)
		}
		if bs, _ := h.s.Buckets(); len(bs) != 0 {
			t.Fatalf("buckets %+v", bs)
		}
		if st := mustStats(t, h.s); st != (Stats{}) {
			t.Fatalf("stats after delete %+v", st)
		}
	})
	t.Run("EmptiedCanBeDeleted", func(t *testing.T) {
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		h.ok(t, &PutObject{Bucket: "bkt", Key: "k", File: smallFile("x")})
		h.reject(t, &DeleteBucket{Bucket: "bkt"}, ErrBucketNotEmpty)
		h.ok(t, &DeleteObject{Bucket: "bkt", Key: "k"})
		h.ok(t, &CreateUpload{UploadID: "u", Bucket: "bkt", Key: "k"})
		h.reject(t, &DeleteBucket{Bucket: "bkt"}, ErrBucketNotEmpty)
		h.ok(t, &AbortUpload{UploadID: "u"})
		h.ok(t, &DeleteBucket{Bucket: "bkt"})
		// An upload in another bucket does not hold this one.
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		h.ok(t, &CreateBucket{Bucket: "bkt2"})
		h.ok(t, &CreateUpload{UploadID: "u2", Bucket: "bkt2", Key: "k"})
		h.ok(t, &DeleteBucket{Bucket: "bkt"})
	})
	t.Run("UploadsAreAborted", func(t *testing.T) {
		// Uploads in progress do not keep a bucket: S3 deletes it and
		// aborts them. Their parts lose their references.
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		h.ok(t, &CreateBucket{Bucket: "bkt2"})
		h.ok(t, &CreateUpload{UploadID: "u", Bucket: "bkt", Key: "k"})
		h.ok(t, &PutPart{UploadID: "u", Number: 1, File: smallFile("part")})
		h.ok(t, &CreateUpload{UploadID: "u2", Bucket: "bkt2", Key: "k"})
		h.ok(t, &PutPart{UploadID: "u2", Number: 1, File: smallFile("other")})
		h.ok(t, &PutObject{Bucket: "bkt", Key: "obj", File: smallFile("obj")})
		h.reject(t, &DeleteBucketAndUploads{Bucket: "bkt"}, ErrBucketNotEmpty) // the upload stays too
		h.ok(t, &DeleteObject{Bucket: "bkt", Key: "obj"})
		if r := h.ok(t, &DeleteBucketAndUploads{Bucket: "bkt"}); r.Deleted != 1 || r.More {
			t.Fatalf("delete bucket: %+v", r)
		}
		if _, _, err := h.s.Upload("u"); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("upload of the deleted bucket: %v", err)
		}
		// Recreated, the bucket has no upload; the other bucket's is kept.
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		if ups, _ := h.s.Uploads("bkt", ""); len(ups) != 0 {
			t.Fatalf("uploads of the recreated bucket: %+v", ups)
		}
		h.reject(t, &PutPart{UploadID: "u", Number: 2, File: smallFile("late")}, ErrNoSuchUpload)
		if fileRefs(t, h.s, smallFile("part").Digest) != 0 || fileRefs(t, h.s, smallFile("other").Digest) != 1 {
			t.Fatal("part references after the delete")
		}
		checkStats(t, h.s, Stats{Buckets: 2, Uploads: 1, Files: 1, FileBytes: 5, Chunks: 1, ChunkBytes: 5})
	})
}

// TestApply_Object covers putting, overwriting and deleting objects with
// their effect on file and chunk references, bucket counters and stats,
// conditional writes, and empty files.
func TestApply_Object(t *testing.T) {
	t.Run("PutOverwriteDelete", func(t *testing.T) {
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		v1 := fileOf(chunkOf("a", 10), chunkOf("b", 20))
		v2 := fileOf(chunkOf("b", 20), chunkOf("c", 5))
		meta := ObjectMeta{ContentType: "text/plain", User: map[string]string{"k": "v"}, ETag: `"e1"`}
		r := h.ok(t, &PutObject{Bucket: "bkt", Key: "dir/x", File: v1, Meta: meta, Time: 7})
		want := Object{Bucket: "bkt", Key: "dir/x", Digest: v1.Digest, Size: 30, Meta: meta, MTime: 7, Index: r.Index}
		if got := mustObject(t, h.s, "bkt", "dir/x"); !reflect.DeepEqual(got, want) {
			t.Fatalf("object\n got %+v\nwant %+v", got, want)
		}
		if !reflect.DeepEqual(*r.Object, want) {
			t.Fatalf("result object %+v", r.Object)
		}
		_, rec, _ := h.s.Object("bkt", "dir/x")
		if !reflect.DeepEqual(rec.Recipe, v1.Recipe) || rec.Refs != 1 || rec.Size != 30 {
			t.Fatalf("file record %+v", rec)
		}
		checkBucket(t, h.s, "bkt", 1, 30)
		checkStats(t, h.s, Stats{Buckets: 1, Objects: 1, LogicalBytes: 30, Files: 1, FileBytes: 30, Chunks: 2, ChunkBytes: 30})

		// Overwrite with other content: the old file loses its only ref.
		h.ok(t, &PutObject{Bucket: "bkt", Key: "dir/x", File: v2, Meta: ObjectMeta{ETag: `"e2"`}, Time: 8})
		if n := fileRefs(t, h.s, v1.Digest); n != 0 {
			t.Fatalf("old file refs %d", n)
		}
		if n := fileRefs(t, h.s, v2.Digest); n != 1 {
			t.Fatalf("new file refs %d", n)
		}
		checkChunkRefs(t, h.s, map[cas.Digest]int64{chunkOf("b", 20).Digest: 1, chunkOf("c", 5).Digest: 1})
		checkZero(t, h.s, chunkOf("a", 10).Digest)
		checkBucket(t, h.s, "bkt", 1, 25)
		checkStats(t, h.s, Stats{Buckets: 1, Objects: 1, LogicalBytes: 25, Files: 1, FileBytes: 25, Chunks: 2, ChunkBytes: 25})
		if uses, _ := h.s.FileUses(v1.Digest, 0); len(uses) != 0 {
			t.Fatalf("old file still used by %v", uses)
		}
		if uses, _ := h.s.FileUses(v2.Digest, 0); !reflect.DeepEqual(uses, []ObjectRef{{"bkt", "dir/x"}}) {
			t.Fatalf("new file used by %v", uses)
		}

		// Overwrite with the same content: one ref still, new metadata.
		h.ok(t, &PutObject{Bucket: "bkt", Key: "dir/x", File: v2, Meta: ObjectMeta{ETag: `"e3"`}, Time: 9})
		if n := fileRefs(t, h.s, v2.Digest); n != 1 {
			t.Fatalf("same-content overwrite: refs %d", n)
		}
		if o := mustObject(t, h.s, "bkt", "dir/x"); o.Meta.ETag != `"e3"` || o.MTime != 9 {
			t.Fatalf("same-content overwrite: %+v", o)
		}

		// A second key with the same content shares the file.
		h.ok(t, &PutObject{Bucket: "bkt", Key: "y", File: v2, Time: 10})
		if n := fileRefs(t, h.s, v2.Digest); n != 2 {
			t.Fatalf("shared file refs %d", n)
		}
		checkStats(t, h.s, Stats{Buckets: 1, Objects: 2, LogicalBytes: 50, Files: 1, FileBytes: 25, Chunks: 2, ChunkBytes: 25})

		r = h.ok(t, &DeleteObject{Bucket: "bkt", Key: "dir/x"})
		if r.Deleted != 1 || r.Object == nil || r.Object.Key != "dir/x" {
			t.Fatalf("delete result %+v", r)
		}
		if _, _, err := h.s.Object("bkt", "dir/x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted object: %v", err)
		}
		if n := fileRefs(t, h.s, v2.Digest); n != 1 {
			t.Fatalf("after delete refs %d", n)
		}
		r = h.ok(t, &DeleteObject{Bucket: "bkt", Key: "dir/x"})
		if r.Deleted != 0 {
			t.Fatalf("deleting a missing key: %+v", r)
		}
		h.ok(t, &DeleteObject{Bucket: "bkt", Key: "y", Conditions: Conditions{IfMatch: "*"}})
		checkStats(t, h.s, Stats{Buckets: 1})
		checkChunkRefs(t, h.s, map[cas.Digest]int64{})
		checkZero(t, h.s, chunkOf("a", 10).Digest, chunkOf("b", 20).Digest, chunkOf("c", 5).Digest)
		if _, _, err := h.s.Object("nope", "k"); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("object in missing bucket: %v", err)
		}
	})
	t.Run("Conditional", func(t *testing.T) {
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		h.ok(t, &PutObject{Bucket: "bkt", Key: "k", File: smallFile("1"), Meta: ObjectMeta{ETag: `"e1"`}, Conditions: Conditions{IfNoneMatch: "*"}})
		h.ok(t, &PutObject{Bucket: "bkt", Key: "k", File: smallFile("2"), Meta: ObjectMeta{ETag: `"e2"`}, Conditions: Conditions{IfMatch: `"e1"`}})
		// Weak and unquoted forms and lists match too.
		h.ok(t, &PutObject{Bucket: "bkt", Key: "k", File: smallFile("3"), Meta: ObjectMeta{ETag: `"e3"`}, Conditions: Conditions{IfMatch: `"x", W/"e2"`}})
		h.ok(t, &PutObject{Bucket: "bkt", Key: "k", File: smallFile("4"), Meta: ObjectMeta{ETag: `"e4"`}, Conditions: Conditions{IfNoneMatch: `"e1"`}})
		h.reject(t, &PutObject{Bucket: "bkt", Key: "k", File: smallFile("5"), Conditions: Conditions{IfMatch: `"e3"`}}, ErrPreconditionFailed)
		h.reject(t, &DeleteObject{Bucket: "bkt", Key: "k", Conditions: Conditions{IfMatch: `"e3"`}}, ErrPreconditionFailed)
		h.ok(t, &DeleteObject{Bucket: "bkt", Key: "k", Conditions: Conditions{IfMatch: `e4`}})
		checkStats(t, h.s, Stats{Buckets: 1})
	})
	t.Run("EmptyFile", func(t *testing.T) {
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		empty := fileOf()
		h.ok(t, &PutObject{Bucket: "bkt", Key: "dir/", File: empty})
		h.ok(t, &PutObject{Bucket: "bkt", Key: "other/", File: empty})
		if n := fileRefs(t, h.s, empty.Digest); n != 2 {
			t.Fatalf("empty file refs %d", n)
		}
		checkStats(t, h.s, Stats{Buckets: 1, Objects: 2, Files: 1})
		h.ok(t, &DeletePrefix{Bucket: "bkt"})
		checkStats(t, h.s, Stats{Buckets: 1})
	})
}

// TestApply_Copy covers server-side copies: metadata kept or replaced, a
// copy onto itself and over another object, and that a copy adds one
// reference to the file and none to its chunks.
func TestApply_Copy(t *testing.T) {
	setup := func(t *testing.T) (*testFSM, File) {
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "src"})
		h.ok(t, &CreateBucket{Bucket: "dst"})
		f := fileOf(chunkOf("a", 100), chunkOf("b", 50))
		h.ok(t, &PutObject{Bucket: "src", Key: "k", File: f, Time: 1, Meta: ObjectMeta{
			ContentType: "application/x-xgb", User: map[string]string{"run": "1"}, ETag: `"abc-2"`,
			Parts: 2, PartSizes: []int64{100, 50}, Checksums: map[string]string{"CRC32": "AAAAAA=="},
		}})
		return h, f
	}
	t.Run("KeepMeta", func(t *testing.T) {
		h, f := setup(t)
		chunksBefore, _ := h.s.ChunkRefs(cas.Digest{}, 0)
		r := h.ok(t, &CopyObject{SrcBucket: "src", SrcKey: "k", Bucket: "dst", Key: "copy", Time: 5, SrcIfMatch: `"abc-2"`,
			Meta: ObjectMeta{ContentType: "ignored"}})
		src, dst := mustObject(t, h.s, "src", "k"), mustObject(t, h.s, "dst", "copy")
		if !reflect.DeepEqual(dst.Meta, src.Meta) || dst.Digest != f.Digest || dst.Size != f.Size || dst.MTime != 5 || dst.Index != r.Index {
			t.Fatalf("copy %+v of %+v", dst, src)
		}
		if n := fileRefs(t, h.s, f.Digest); n != 2 {
			t.Fatalf("file refs after copy %d", n)
		}
		// The copy adds one ref to the file and nothing to its chunks.
		chunksAfter, _ := h.s.ChunkRefs(cas.Digest{}, 0)
		if !reflect.DeepEqual(chunksBefore, chunksAfter) {
			t.Fatalf("chunk refs changed: %v -> %v", chunksBefore, chunksAfter)
		}
		checkStats(t, h.s, Stats{Buckets: 2, Objects: 2, LogicalBytes: 300, Files: 1, FileBytes: 150, Chunks: 2, ChunkBytes: 150})
		checkBucket(t, h.s, "dst", 1, 150)
		h.ok(t, &PutObject{Bucket: "dst", Key: "other", File: smallFile("other")})
		if top, err := h.s.TopShared(5); err != nil || !reflect.DeepEqual(top, []SharedFile{{f.Digest, 150, 2}}) {
			t.Fatalf("top shared %+v, %v", top, err)
		}
		// Deleting the source keeps the copy's content.
		h.ok(t, &DeleteObject{Bucket: "src", Key: "k"})
		if n := fileRefs(t, h.s, f.Digest); n != 1 {
			t.Fatalf("file refs after deleting the source %d", n)
		}
	})
	t.Run("ReplaceMeta", func(t *testing.T) {
		h, f := setup(t)
		h.ok(t, &CopyObject{SrcBucket: "src", SrcKey: "k", Bucket: "dst", Key: "copy", ReplaceMeta: true, Time: 5,
			Meta: ObjectMeta{ContentType: "text/plain", User: map[string]string{"new": "yes"}, ETag: `"ignored"`}})
		dst := mustObject(t, h.s, "dst", "copy")
		want := ObjectMeta{ContentType: "text/plain", User: map[string]string{"new": "yes"}, ETag: `"abc-2"`,
			Parts: 2, PartSizes: []int64{100, 50}, Checksums: map[string]string{"CRC32": "AAAAAA=="}}
		if !reflect.DeepEqual(dst.Meta, want) {
			t.Fatalf("replaced meta\n got %+v\nwant %+v", dst.Meta, want)
		}
		if n := fileRefs(t, h.s, f.Digest); n != 2 {
			t.Fatalf("file refs %d", n)
		}
	})
	t.Run("OntoItself", func(t *testing.T) {
		h, f := setup(t)
		h.ok(t, &CopyObject{SrcBucket: "src", SrcKey: "k", Bucket: "src", Key: "k", ReplaceMeta: true, Time: 6,
			Meta: ObjectMeta{ContentType: "text/csv"}})
		if o := mustObject(t, h.s, "src", "k"); o.Meta.ContentType != "text/csv" || o.MTime != 6 {
			t.Fatalf("self copy %+v", o)
		}
		if n := fileRefs(t, h.s, f.Digest); n != 1 {
			t.Fatalf("self copy refs %d", n)
		}
		checkBucket(t, h.s, "src", 1, 150)
	})
	t.Run("OverExisting", func(t *testing.T) {
		h, f := setup(t)
		old := smallFile("old")
		h.ok(t, &PutObject{Bucket: "dst", Key: "copy", File: old})
		h.ok(t, &CopyObject{SrcBucket: "src", SrcKey: "k", Bucket: "dst", Key: "copy"})
		if n := fileRefs(t, h.s, old.Digest); n != 0 {
			t.Fatalf("overwritten file refs %d", n)
		}
		if n := fileRefs(t, h.s, f.Digest); n != 2 {
			t.Fatalf("copied file refs %d", n)
		}
		checkBucket(t, h.s, "dst", 1, 150)
	})
}

// TestApply_DeletePrefix covers removing keys under a prefix page by
// page, with Limit and More.
func TestApply_DeletePrefix(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	h.ok(t, &CreateBucket{Bucket: "bkt2"})
	for _, k := range []string{"a/1", "a/2", "a/3", "a/4", "a/5", "ab", "b/1"} {
		h.ok(t, &PutObject{Bucket: "bkt", Key: k, File: smallFile(k)})
	}
	h.ok(t, &PutObject{Bucket: "bkt2", Key: "a/1", File: smallFile("a/1")})
	steps := []struct {
		limit   int
		deleted int
		more    bool
	}{{2, 2, true}, {2, 2, true}, {1, 1, false}, {3, 0, false}}
	for i, s := range steps {
		r := h.ok(t, &DeletePrefix{Bucket: "bkt", Prefix: "a/", Limit: s.limit})
		if r.Deleted != s.deleted || r.More != s.more {
			t.Fatalf("step %d: deleted %d more %v, want %d %v", i, r.Deleted, r.More, s.deleted, s.more)
		}
	}
	res, err := h.s.List("bkt", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(res.Objects); !reflect.DeepEqual(got, []string{"ab", "b/1"}) {
		t.Fatalf("left %v", got)
	}
	// The same prefix in another bucket is untouched, and the file the two
	// buckets shared lost one ref only.
	mustObject(t, h.s, "bkt2", "a/1")
	if n := fileRefs(t, h.s, smallFile("a/1").Digest); n != 1 {
		t.Fatalf("shared file refs %d", n)
	}
	// Limit 0 removes everything under the prefix ("" = the whole bucket).
	r := h.ok(t, &DeletePrefix{Bucket: "bkt"})
	if r.Deleted != 2 || r.More {
		t.Fatalf("delete all: %+v", r)
	}
	checkBucket(t, h.s, "bkt", 0, 0)
	checkStats(t, h.s, Stats{Buckets: 2, Objects: 1, LogicalBytes: 3, Files: 1, FileBytes: 3, Chunks: 1, ChunkBytes: 3})
}

// TestApply_Ref covers named refs and their compare-and-swap versions.
func TestApply_Ref(t *testing.T) {
	h := newTestFSM(t)
	r := h.ok(t, &PutRef{Name: "models/prod", Target: "v1", IfVersion: u64(0), Time: 3})
	v1 := r.Ref.Version
	if v1 != r.Index {
		t.Fatalf("ref version %d at index %d", v1, r.Index)
	}
	got, err := h.s.Ref("models/prod")
	if err != nil || got != (Ref{Name: "models/prod", Target: "v1", Version: v1, Time: 3}) {
		t.Fatalf("ref %+v, %v", got, err)
	}
	h.reject(t, &PutRef{Name: "models/prod", Target: "v2", IfVersion: u64(0)}, ErrConflict)
	r = h.ok(t, &PutRef{Name: "models/prod", Target: "v2", IfVersion: u64(v1)})
	v2 := r.Ref.Version
	h.reject(t, &PutRef{Name: "models/prod", Target: "v3", IfVersion: u64(v1)}, ErrConflict)
	// Without IfVersion the write is unconditional.
	v3 := h.ok(t, &PutRef{Name: "models/prod", Target: "v3"}).Ref.Version
	if !(v1 < v2 && v2 < v3) {
		t.Fatalf("versions %d %d %d", v1, v2, v3)
	}
	h.ok(t, &PutRef{Name: "models/dev", Target: "d"})
	h.ok(t, &PutRef{Name: "other", Target: "o"})
	refs, err := h.s.Refs("models/")
	if err != nil || len(refs) != 2 || refs[0].Name != "models/dev" || refs[1].Name != "models/prod" || refs[1].Target != "v3" {
		t.Fatalf("refs %+v, %v", refs, err)
	}
	h.reject(t, &DeleteRef{Name: "models/prod", IfVersion: u64(v2)}, ErrConflict)
	h.ok(t, &DeleteRef{Name: "models/prod", IfVersion: u64(v3)})
	if _, err := h.s.Ref("models/prod"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted ref: %v", err)
	}
	// Recreating after delete needs IfVersion 0 again.
	h.ok(t, &PutRef{Name: "models/prod", Target: "v4", IfVersion: u64(0)})
	h.ok(t, &DeleteRef{Name: "other"})
}

func keysOf(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

func checkBucket(t *testing.T, s *State, name string, objects, bytes int64) {
	t.Helper()
	b, err := s.Bucket(name)
	if err != nil {
		t.Fatalf("bucket %s: %v", name, err)
	}
	if b.Objects != objects || b.Bytes != bytes {
		t.Fatalf("bucket %s holds %d objects, %d bytes; want %d, %d", name, b.Objects, b.Bytes, objects, bytes)
	}
}

func checkStats(t *testing.T, s *State, want Stats) {
	t.Helper()
	if got := mustStats(t, s); got != want {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
}

func checkChunkRefs(t *testing.T, s *State, want map[cas.Digest]int64) {
	t.Helper()
	refs, err := s.ChunkRefs(cas.Digest{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[cas.Digest]int64{}
	for _, c := range refs {
		got[c.Digest] = c.Refs
		if n, _ := s.ChunkRefCount(c.Digest); n != c.Refs {
			t.Fatalf("ChunkRefCount %s = %d, ChunkRefs says %d", c.Digest.Short(), n, c.Refs)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("chunk refs\n got %v\nwant %v", got, want)
	}
}

// checkZero checks that exactly these chunks are garbage candidates.
func checkZero(t *testing.T, s *State, want ...cas.Digest) {
	t.Helper()
	zs, err := s.ZeroChunks(0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[cas.Digest]bool{}
	for _, z := range zs {
		got[z.Digest] = true
		if z.Index == 0 || z.Index > s.Applied() {
			t.Fatalf("zero chunk %s at index %d (applied %d)", z.Digest.Short(), z.Index, s.Applied())
		}
	}
	w := map[cas.Digest]bool{}
	for _, d := range want {
		w[d] = true
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("zero chunks\n got %v\nwant %v", got, w)
	}
}
