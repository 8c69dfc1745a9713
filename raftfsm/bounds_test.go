package raftfsm

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"cairn/cas"

	"github.com/hashicorp/raft"
)

// TestApply_TxnLimit proves that a command too large for what is left of a
// transaction is applied in one of its own, and that one too large even
// alone is refused the same way whatever the batching: with transactions
// limited to a few dozen writes, fsms fed the same log one entry at a
// time, 7 at a time and all at once agree on every result and byte.
func TestApply_TxnLimit(t *testing.T) {
	limited := func(t *testing.T) *testFSM {
		h := newTestFSM(t)
		h.f.txnWrites, h.f.txnBytes = 10, 4<<10
		return h
	}
	a := limited(t)
	w := newWorkload(21, a.s)
	var results []Result
	tooLarge := 0
	for range 250 {
		r := a.apply(t, w.next(t))
		if errors.Is(r.Err, ErrTooLarge) {
			tooLarge++
		}
		results = append(results, r)
	}
	if tooLarge == 0 {
		t.Fatal("no command hit the transaction limit")
	}
	t.Logf("%d of %d commands refused as too large", tooLarge, len(results))
	want := a.dump(t)
	for _, size := range []int{7, 0} {
		b := limited(t)
		sameResults(t, feedBatches(t, b, a.log, size), results)
		if got := b.dump(t); got != want {
			t.Fatalf("batches of %d: state differs:\n%s", size, diffDump(want, got))
		}
		if b.s.Applied() != uint64(len(a.log)) {
			t.Fatalf("batches of %d: applied %d", size, b.s.Applied())
		}
		b.reopen(t)
		if b.s.Applied() != uint64(len(a.log)) || b.dump(t) != want {
			t.Fatalf("batches of %d: state lost across restart", size)
		}
	}
}

// TestApply_DeletePrefixBudget proves that a DeletePrefix stops at its
// write budget with More set, so that its transaction stays within
// Badger's limits however many keys it is allowed, and that repeating it
// removes everything.
func TestApply_DeletePrefixBudget(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	const n = 1200
	long := strings.Repeat("k", 1000) // 1000-byte keys: about 2 KB of writes each to remove
	var logs []*raft.Log
	for i := range n {
		l := entry(t, h.next(), 1, &PutObject{Bucket: "bkt", Key: fmt.Sprintf("d/%04d/%s", i, long), File: smallFile("same")})
		h.log = append(h.log, l)
		logs = append(logs, l)
	}
	feedBatches(t, h, logs, 200)
	var rounds, total int
	for {
		r := h.ok(t, &DeletePrefix{Bucket: "bkt", Prefix: "d/"})
		rounds++
		total += r.Deleted
		if !r.More {
			break
		}
		if r.Deleted == 0 || r.Deleted == n {
			t.Fatalf("round %d deleted %d", rounds, r.Deleted)
		}
	}
	if total != n || rounds < 2 {
		t.Fatalf("deleted %d in %d rounds", total, rounds)
	}
	checkStats(t, h.s, Stats{Buckets: 1})
}

// TestApply_UploadChunkCap proves that an upload's parts may not hold
// more chunks in all than a file may, so that aborting or completing it
// stays within one transaction.
func TestApply_UploadChunkCap(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	h.ok(t, &CreateUpload{UploadID: "u", Bucket: "bkt", Key: "k"})
	same := func(n int) File { // n references to one chunk: cheap to apply
		refs := make([]cas.Ref, n)
		for i := range refs {
			refs[i] = chunkOf("same", 1)
		}
		return fileOf(refs...)
	}
	h.ok(t, &PutPart{UploadID: "u", Number: 1, File: same(MaxChunksPerFile - 10)})
	h.reject(t, &PutPart{UploadID: "u", Number: 2, File: same(11)}, ErrTooLarge)
	h.ok(t, &PutPart{UploadID: "u", Number: 2, File: same(10)})
	// Replacing part 2 with a larger one counts the new size only.
	h.reject(t, &PutPart{UploadID: "u", Number: 2, File: same(11)}, ErrTooLarge)
	h.ok(t, &PutPart{UploadID: "u", Number: 2, File: same(9)})
	h.ok(t, &PutPart{UploadID: "u", Number: 3, File: same(1)})
	u, parts, err := h.s.Upload("u")
	if err != nil || u.Chunks != MaxChunksPerFile || len(parts) != 3 || parts[1].Chunks != 9 {
		t.Fatalf("upload %+v parts %d, %v", u, len(parts), err)
	}
	h.ok(t, &AbortUpload{UploadID: "u"})
	checkStats(t, h.s, Stats{Buckets: 1})
}
