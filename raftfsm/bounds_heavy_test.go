//go:build !race

package raftfsm

import (
	"fmt"
	"strings"
	"testing"

	"cairn/cas"

	"github.com/hashicorp/raft"
)

// TestApply_MaxFiles proves, with real Badger limits, that the largest
// files fit in a transaction and that a command too large for one (a file
// of MaxChunksPerFile chunks overwritten by another) is refused and
// changes nothing, instead of failing the state store on every node for
// good. It takes seconds, and longer with the race detector, which skips
// it.
func TestApply_MaxFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	max := func(label string) File {
		refs := make([]cas.Ref, MaxChunksPerFile)
		for i := range refs {
			refs[i] = chunkOf(fmt.Sprint(label, i), 64<<10)
		}
		return fileOf(refs...)
	}
	a, b := max("a"), max("b")
	h.ok(t, &PutObject{Bucket: "bkt", Key: "k", File: b})
	h.ok(t, &DeleteObject{Bucket: "bkt", Key: "k"}) // b's chunks become garbage candidates
	h.ok(t, &PutObject{Bucket: "bkt", Key: "k", File: a})
	// Two writes for each chunk of b brought back, two for each of a
	// dropped: about 262,000, past Badger's 209,715.
	h.reject(t, &PutObject{Bucket: "bkt", Key: "k", File: b}, ErrTooLarge)
	if st := mustStats(t, h.s); st.Chunks != MaxChunksPerFile || st.Files != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Deleting first, then writing, goes through.
	h.ok(t, &DeleteObject{Bucket: "bkt", Key: "k"})
	h.ok(t, &PutObject{Bucket: "bkt", Key: "k", File: b})
}

// TestApply_LargeValues proves that a batch of commands whose values add
// up to more than Badger takes in one transaction (25 MLmodel files with
// 900 KB of parsed fields: 22 MB) is split, not failed.
func TestApply_LargeValues(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	big := strings.Repeat("x", 900<<10)
	var logs []*raft.Log
	for i := range 25 {
		c := &PutObject{Bucket: "bkt", Key: fmt.Sprintf("m%d/MLmodel", i), File: smallFile(fmt.Sprint(i)),
			Model: &Model{Extra: map[string]any{"x": big}}}
		l := entry(t, h.next(), 1, c)
		h.log = append(h.log, l)
		logs = append(logs, l)
	}
	for i, r := range h.feed(t, logs...) {
		if r.Err != nil {
			t.Fatalf("entry %d: %v", logs[i].Index, r.Err)
		}
	}
	if st := mustStats(t, h.s); st.Objects != 25 {
		t.Fatalf("stats %+v", st)
	}
	if ms, err := h.s.Models(ModelFilter{}); err != nil || len(ms) != 25 {
		t.Fatalf("%d models, %v", len(ms), err)
	}
}

// TestApply_DeleteBucketBudget proves that a DeleteBucketAndUploads of a bucket
// with more uploads than one transaction may abort stops at the write
// budget of a DeletePrefix with More set and the bucket still there, that
// repeating it aborts the rest and deletes the bucket, that an object
// written between two rounds makes the next one refuse (and keep the
// uploads it has not reached), and that fsms fed the same log in other
// batches agree on every byte. It writes some 300,000 entries: seconds,
// and a minute with the race detector, which skips it.
func TestApply_DeleteBucketBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	const uploads, chunks = 6, 12000 // about 24,000 writes to abort each
	var logs []*raft.Log
	add := func(c Command) {
		l := entry(t, h.next(), 1, c)
		h.log = append(h.log, l)
		logs = append(logs, l)
	}
	for u := range uploads {
		id := fmt.Sprintf("u%02d", u)
		refs := make([]cas.Ref, chunks)
		for i := range refs {
			refs[i] = chunkOf(fmt.Sprint(id, "/", i), 1)
		}
		add(&CreateUpload{UploadID: id, Bucket: "bkt", Key: "k"})
		add(&PutPart{UploadID: id, Number: 1, File: fileOf(refs...)})
	}
	feedBatches(t, h, logs, 2)

	first := h.ok(t, &DeleteBucketAndUploads{Bucket: "bkt"})
	if !first.More || first.Deleted == 0 || first.Deleted == uploads {
		t.Fatalf("first round: %+v", first)
	}
	h.ok(t, &PutObject{Bucket: "bkt", Key: "late", File: smallFile("late")})
	h.reject(t, &DeleteBucketAndUploads{Bucket: "bkt"}, ErrBucketNotEmpty)
	if st := mustStats(t, h.s); st.Uploads != int64(uploads-first.Deleted) {
		t.Fatalf("%d uploads left after aborting %d of %d", st.Uploads, first.Deleted, uploads)
	}
	h.ok(t, &DeleteObject{Bucket: "bkt", Key: "late"})
	rounds, total := 1, first.Deleted
	for {
		r := h.ok(t, &DeleteBucketAndUploads{Bucket: "bkt"})
		rounds++
		total += r.Deleted
		if !r.More {
			break
		}
		if _, err := h.s.Bucket("bkt"); err != nil {
			t.Fatalf("round %d: the bucket went before its last upload: %v", rounds, err)
		}
	}
	if total != uploads || rounds < 3 {
		t.Fatalf("aborted %d uploads in %d rounds", total, rounds)
	}
	checkStats(t, h.s, Stats{})
	want := h.dump(t)
	for _, size := range []int{7, 0} {
		b := newTestFSM(t)
		feedBatches(t, b, h.log, size)
		if got := b.dump(t); got != want {
			t.Fatalf("batches of %d: state differs:\n%s", size, diffDump(want, got))
		}
	}
}
