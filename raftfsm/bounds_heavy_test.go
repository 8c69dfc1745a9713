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
