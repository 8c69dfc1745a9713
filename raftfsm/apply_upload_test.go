package raftfsm

import (
	"errors"
	"reflect"
	"testing"

	"cairn/cas"
)

// TestApply_Upload covers multipart uploads: parts replaced (the last
// applied wins and the replaced part's file loses its reference),
// completion and its retry, completion over an existing object, abort,
// and the listing of uploads in progress.
func TestApply_Upload(t *testing.T) {
	setup := func(t *testing.T) *testFSM {
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		r := h.ok(t, &CreateUpload{UploadID: "u1", Bucket: "bkt", Key: "model.bin", Time: 1,
			Meta: ObjectMeta{ContentType: "application/octet-stream", User: map[string]string{"a": "b"}}})
		if r.Upload == nil || r.Upload.UploadID != "u1" {
			t.Fatalf("create result %+v", r)
		}
		if st := mustStats(t, h.s); st.Uploads != 1 {
			t.Fatalf("stats %+v", st)
		}
		return h
	}
	// p1 and p2 share a chunk, as consecutive parts of a file may.
	p1 := fileOf(chunkOf("p1a", 3*mib), chunkOf("shared", 2*mib))
	p2 := fileOf(chunkOf("shared", 2*mib), chunkOf("p2b", 10))
	whole := concat(p1, p2)
	parts := []CompletePart{{1, `"e1"`, p1.Digest}, {2, `"e2"`, p2.Digest}}
	done := &CompleteUpload{UploadID: "u1", Bucket: "bkt", Key: "model.bin", Parts: parts, File: whole, ETag: `"whole-2"`,
		Checksums: map[string]string{"CRC32": "x"}, Time: 9}

	t.Run("ReplacePart", func(t *testing.T) {
		h := setup(t)
		first := smallFile("first attempt")
		h.ok(t, &PutPart{UploadID: "u1", Number: 1, File: first, ETag: `"e0"`})
		h.ok(t, &PutPart{UploadID: "u1", Number: 1, File: p1, ETag: `"e1"`, Time: 2})
		h.ok(t, &PutPart{UploadID: "u1", Number: 1, File: p1, ETag: `"e1"`, Time: 3}) // same content again
		if n := fileRefs(t, h.s, first.Digest); n != 0 {
			t.Fatalf("replaced part's file refs %d", n)
		}
		if n := fileRefs(t, h.s, p1.Digest); n != 1 {
			t.Fatalf("part file refs %d", n)
		}
		u, ps, err := h.s.Upload("u1")
		if err != nil || u.Key != "model.bin" || len(ps) != 1 || ps[0].Digest != p1.Digest || ps[0].ETag != `"e1"` || ps[0].Time != 3 {
			t.Fatalf("upload %+v parts %+v, %v", u, ps, err)
		}
		checkZero(t, h.s, first.Recipe[0].Digest)
	})
	t.Run("Complete", func(t *testing.T) {
		h := setup(t)
		h.ok(t, &PutPart{UploadID: "u1", Number: 1, File: p1, ETag: `"e1"`})
		h.ok(t, &PutPart{UploadID: "u1", Number: 2, File: p2, ETag: `"e2"`})
		unused := smallFile("never listed")
		h.ok(t, &PutPart{UploadID: "u1", Number: 5, File: unused, ETag: `"e5"`})
		r := h.ok(t, done)
		o := mustObject(t, h.s, "bkt", "model.bin")
		wantMeta := ObjectMeta{ContentType: "application/octet-stream", User: map[string]string{"a": "b"}, ETag: `"whole-2"`,
			Parts: 2, PartSizes: []int64{p1.Size, p2.Size}, Checksums: map[string]string{"CRC32": "x"}}
		if o.Digest != whole.Digest || o.Size != p1.Size+p2.Size || o.UploadID != "u1" || o.MTime != 9 || !reflect.DeepEqual(o.Meta, wantMeta) {
			t.Fatalf("completed object %+v", o)
		}
		if !reflect.DeepEqual(*r.Object, o) {
			t.Fatalf("result %+v", r.Object)
		}
		if _, _, err := h.s.Upload("u1"); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("upload after complete: %v", err)
		}
		for _, f := range []File{p1, p2, unused} {
			if n := fileRefs(t, h.s, f.Digest); n != 0 {
				t.Fatalf("part file %s refs %d", f.Digest.Short(), n)
			}
		}
		checkChunkRefs(t, h.s, map[cas.Digest]int64{
			chunkOf("p1a", 3*mib).Digest: 1, chunkOf("shared", 2*mib).Digest: 1, chunkOf("p2b", 10).Digest: 1})
		checkStats(t, h.s, Stats{Buckets: 1, Objects: 1, LogicalBytes: whole.Size, Files: 1, FileBytes: whole.Size,
			Chunks: 3, ChunkBytes: 5*mib + 10})

		// A retried Complete succeeds with the same object and changes nothing.
		before := h.dump(t)
		r2 := h.ok(t, done)
		if !reflect.DeepEqual(*r2.Object, o) {
			t.Fatalf("retry result %+v, want %+v", r2.Object, o)
		}
		if after := h.dump(t); after != before {
			t.Fatalf("retry changed the state:\n%s", diffDump(before, after))
		}
		// Not with another ETag, nor after an abort.
		retry := *done
		retry.ETag = `"other-2"`
		h.reject(t, &retry, ErrNoSuchUpload)
		h.reject(t, &AbortUpload{UploadID: "u1"}, ErrNoSuchUpload)
		if got := mustObject(t, h.s, "bkt", "model.bin"); !reflect.DeepEqual(got, o) {
			t.Fatalf("object changed: %+v", got)
		}
		// Once the object is overwritten, the retry no longer succeeds.
		h.ok(t, &PutObject{Bucket: "bkt", Key: "model.bin", File: smallFile("new"), Meta: ObjectMeta{ETag: `"whole-2"`}})
		h.reject(t, done, ErrNoSuchUpload)
	})
	t.Run("CompleteOverExisting", func(t *testing.T) {
		h := setup(t)
		old := smallFile("old")
		h.ok(t, &PutObject{Bucket: "bkt", Key: "model.bin", File: old})
		h.ok(t, &PutPart{UploadID: "u1", Number: 1, File: p1, ETag: `"e1"`})
		h.ok(t, &PutPart{UploadID: "u1", Number: 2, File: p2, ETag: `"e2"`})
		cond := *done
		cond.Conditions = Conditions{IfNoneMatch: "*"}
		h.reject(t, &cond, ErrPreconditionFailed)
		h.ok(t, done)
		if n := fileRefs(t, h.s, old.Digest); n != 0 {
			t.Fatalf("overwritten file refs %d", n)
		}
		checkBucket(t, h.s, "bkt", 1, whole.Size)
	})
	t.Run("SinglePartMayBeSmall", func(t *testing.T) {
		h := setup(t)
		tiny := smallFile("tiny")
		h.ok(t, &PutPart{UploadID: "u1", Number: 3, File: tiny, ETag: `"t"`})
		h.ok(t, &CompleteUpload{UploadID: "u1", Bucket: "bkt", Key: "model.bin", File: concat(tiny), ETag: `"t-1"`,
			Parts: []CompletePart{{3, `"t"`, tiny.Digest}}})
		if o := mustObject(t, h.s, "bkt", "model.bin"); o.Size != tiny.Size || o.Meta.Parts != 1 {
			t.Fatalf("object %+v", o)
		}
	})
	t.Run("Abort", func(t *testing.T) {
		h := setup(t)
		h.ok(t, &PutObject{Bucket: "bkt", Key: "model.bin", File: smallFile("kept")})
		h.ok(t, &PutPart{UploadID: "u1", Number: 1, File: p1, ETag: `"e1"`})
		h.ok(t, &PutPart{UploadID: "u1", Number: 2, File: p2, ETag: `"e2"`})
		before := mustObject(t, h.s, "bkt", "model.bin")
		h.ok(t, &AbortUpload{UploadID: "u1"})
		if got := mustObject(t, h.s, "bkt", "model.bin"); !reflect.DeepEqual(got, before) {
			t.Fatalf("abort touched the object: %+v", got)
		}
		checkStats(t, h.s, Stats{Buckets: 1, Objects: 1, LogicalBytes: 4, Files: 1, FileBytes: 4, Chunks: 1, ChunkBytes: 4})
		if ups, _ := h.s.Uploads("bkt", ""); len(ups) != 0 {
			t.Fatalf("uploads %+v", ups)
		}
		h.reject(t, &PutPart{UploadID: "u1", Number: 1, File: p1}, ErrNoSuchUpload)
		h.reject(t, done, ErrNoSuchUpload)
		h.ok(t, &DeleteObject{Bucket: "bkt", Key: "model.bin"})
		h.ok(t, &DeleteBucket{Bucket: "bkt"})
	})
	t.Run("Uploads", func(t *testing.T) {
		h := setup(t)
		h.ok(t, &CreateUpload{UploadID: "u0", Bucket: "bkt", Key: "model.bin"})
		h.ok(t, &CreateUpload{UploadID: "u2", Bucket: "bkt", Key: "a/x"})
		ups, err := h.s.Uploads("bkt", "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range ups {
			got = append(got, u.Key+"#"+u.UploadID)
		}
		if want := []string{"a/x#u2", "model.bin#u0", "model.bin#u1"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("uploads %v, want %v", got, want)
		}
		if ups, _ := h.s.Uploads("bkt", "a/"); len(ups) != 1 {
			t.Fatalf("uploads under a/: %+v", ups)
		}
	})
}
