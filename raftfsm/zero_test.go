package raftfsm

import (
	"testing"

	"cairn/cas"
)

// TestApply_PruneZero forgets the zero-reference candidates it is given,
// but never one whose chunk is referenced again, and pages through the
// table.
func TestApply_PruneZero(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt", Time: 1})
	var files []File
	for _, s := range []string{"a", "b", "c"} {
		f := smallFile(s)
		files = append(files, f)
		h.ok(t, &PutObject{Bucket: "bkt", Key: s, File: f, Meta: ObjectMeta{ETag: `"e"`}, Time: 2})
	}
	for _, k := range []string{"a", "b", "c"} {
		h.ok(t, &DeleteObject{Bucket: "bkt", Key: k})
	}
	zero, err := h.s.ZeroChunks(0)
	if err != nil || len(zero) != 3 {
		t.Fatalf("zero chunks %v, %v", zero, err)
	}
	// Paging: one at a time, from the last digest of the page before.
	var paged []cas.Digest
	after := cas.Digest{}
	for {
		page, err := h.s.ZeroChunksAfter(after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page[0].Digest)
		after = page[0].Digest
	}
	if len(paged) != 3 || paged[0] != zero[0].Digest || paged[2] != zero[2].Digest {
		t.Fatalf("paged %v, want %v", paged, zero)
	}
	// "b" is referenced again: its candidate record goes, and a prune of it
	// changes nothing.
	h.ok(t, &PutObject{Bucket: "bkt", Key: "b2", File: files[1], Meta: ObjectMeta{ETag: `"e"`}, Time: 3})
	var all []cas.Digest
	for _, f := range files {
		all = append(all, f.Recipe[0].Digest)
	}
	if r := h.ok(t, &PruneZero{Digests: all}); r.Deleted != 2 {
		t.Fatalf("pruned %d, want the 2 unreferenced", r.Deleted)
	}
	if zero, _ := h.s.ZeroChunks(0); len(zero) != 0 {
		t.Fatalf("left %v", zero)
	}
	if n, err := h.s.ChunkRefCount(all[1]); err != nil || n != 1 {
		t.Fatalf("the referenced chunk counts %d, %v", n, err)
	}
	h.reject(t, &PruneZero{Digests: make([]cas.Digest, MaxPruneZero+1)}, ErrTooLarge)
}
