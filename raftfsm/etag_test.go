package raftfsm

import (
	"slices"
	"testing"
)

// lateKeys lists the keys of the table of late ETags.
func lateKeys(t *testing.T, s *State) []string {
	t.Helper()
	refs, err := s.LateETags(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range refs {
		out = append(out, r.Bucket+"/"+r.Key)
	}
	return out
}

// TestLateETags follows objects committed without their ETag through
// the table that lists them and FillETags, which fills an ETag only into
// the file it was computed from: a key overwritten meanwhile by another
// late file keeps waiting, one overwritten by a file with its ETag, or
// deleted, leaves the table.
func TestLateETags(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	if h.s.Feature(FeatureLateETag) {
		t.Fatal("a new state has the late ETag feature on")
	}
	h.ok(t, &EnableFeature{Name: FeatureLateETag})
	if !h.s.Feature(FeatureLateETag) {
		t.Fatal("EnableFeature did not turn the feature on")
	}
	h.reject(t, &EnableFeature{Name: ""}, ErrInvalidCommand)

	a, b, c := smallFile("a"), smallFile("b"), smallFile("c")
	const etagA, etagB = `"0cc175b9c0f1b6a831c399e269772661"`, `"92eb5ffee6ae2fec3ad71c777531578f"`
	h.ok(t, &PutObject{Bucket: "bkt", Key: "late", File: a})
	h.ok(t, &PutObject{Bucket: "bkt", Key: "other", File: a})
	h.ok(t, &PutObject{Bucket: "bkt", Key: "gone", File: a})
	h.ok(t, &PutObject{Bucket: "bkt", Key: "tagged", File: b, Meta: ObjectMeta{ETag: etagB}})
	h.ok(t, &PutObject{Bucket: "bkt", Key: "parts", File: c, Meta: ObjectMeta{Parts: 2, ETag: ""}})
	if got, want := lateKeys(t, h.s), []string{"bkt/gone", "bkt/late", "bkt/other"}; !slices.Equal(got, want) {
		t.Fatalf("late ETags %q, want %q", got, want)
	}
	page, err := h.s.LateETags(&ObjectRef{Bucket: "bkt", Key: "gone"}, 1)
	if err != nil || len(page) != 1 || page[0].Key != "late" {
		t.Fatalf("the page after b/gone: %v, %v; want b/late", page, err)
	}

	// A copy of a late object is late too.
	h.ok(t, &CopyObject{SrcBucket: "bkt", SrcKey: "late", Bucket: "bkt", Key: "copy"})
	// other now holds another late file; gone is deleted.
	h.ok(t, &PutObject{Bucket: "bkt", Key: "other", File: c})
	h.ok(t, &DeleteObject{Bucket: "bkt", Key: "gone"})
	h.reject(t, &FillETags{ETags: []ETagFill{{Bucket: "bkt", Key: "late", Digest: a.Digest, ETag: "0cc175b9"}}}, ErrInvalidCommand)
	h.reject(t, &FillETags{ETags: make([]ETagFill, MaxETagFills+1)}, ErrTooLarge)

	r := h.ok(t, &FillETags{ETags: []ETagFill{
		{Bucket: "bkt", Key: "late", Digest: a.Digest, ETag: etagA},
		{Bucket: "bkt", Key: "copy", Digest: a.Digest, ETag: etagA},
		{Bucket: "bkt", Key: "other", Digest: a.Digest, ETag: etagA},  // computed from the file it held before
		{Bucket: "bkt", Key: "gone"},                                  // only leaves the table
		{Bucket: "bkt", Key: "tagged", Digest: b.Digest, ETag: etagA}, // has its ETag: untouched
	}})
	if r.Deleted != 2 {
		t.Errorf("FillETags filled %d, want 2", r.Deleted)
	}
	for key, want := range map[string]string{"late": etagA, "copy": etagA, "other": "", "tagged": etagB, "parts": ""} {
		if o := mustObject(t, h.s, "bkt", key); o.Meta.ETag != want {
			t.Errorf("bkt/%s: ETag %q, want %q", key, o.Meta.ETag, want)
		}
	}
	if got, want := lateKeys(t, h.s), []string{"bkt/other"}; !slices.Equal(got, want) {
		t.Fatalf("late ETags after the fill %q, want %q", got, want)
	}
	// A late key overwritten by a file with its ETag leaves the table.
	h.ok(t, &PutObject{Bucket: "bkt", Key: "other", File: b, Meta: ObjectMeta{ETag: etagB}})
	if got := lateKeys(t, h.s); len(got) != 0 {
		t.Fatalf("late ETags %q after the last late key got its ETag", got)
	}
	// The table and the feature survive a snapshot and its restore.
	h.ok(t, &PutObject{Bucket: "bkt", Key: "again", File: c})
	h2 := newTestFSM(t)
	if err := restore(h2, snapshotOf(t, h)); err != nil {
		t.Fatal(err)
	}
	if got, want := lateKeys(t, h2.s), []string{"bkt/again"}; !slices.Equal(got, want) || !h2.s.Feature(FeatureLateETag) {
		t.Fatalf("restored: late ETags %q (want %q), feature %v", got, want, h2.s.Feature(FeatureLateETag))
	}
}
