package raftfsm

import (
	"testing"

	"cairn/cas"
	"cairn/cas/chunk"
)

// TestApply_TierLifeCycle walks a chunk through the cold tier: recorded
// only while referenced, doomed only once unreferenced, brought back by a
// new reference, forgotten only when doomed long enough, and kept in the
// zero-reference table until the tier has forgotten it.
func TestApply_TierLifeCycle(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt", Time: 1})
	f := smallFile("cold bytes")
	d := f.Recipe[0].Digest
	stray := chunk.Sum([]byte("never referenced"))
	h.ok(t, &PutObject{Bucket: "bkt", Key: "a", File: f, Meta: ObjectMeta{ETag: `"e"`}, Time: 2})

	if r := h.ok(t, &TierChunks{Chunks: []TieredChunk{{Digest: d, Stored: 11}, {Digest: stray, Stored: 5}}}); r.Deleted != 1 {
		t.Fatalf("tiered %d chunks, want only the referenced one", r.Deleted)
	}
	if rec, ok, err := h.s.Tiered(d); err != nil || !ok || rec.Stored != 11 || rec.Doomed != 0 {
		t.Fatalf("record %+v %v %v", rec, ok, err)
	}
	if _, ok, _ := h.s.Tiered(stray); ok {
		t.Fatal("an unreferenced chunk was recorded")
	}
	if r := h.ok(t, &DoomTiered{Digests: []cas.Digest{d}, Time: 100}); r.Deleted != 0 {
		t.Fatal("a referenced chunk was doomed")
	}

	h.ok(t, &DeleteObject{Bucket: "bkt", Key: "a"})
	if r := h.ok(t, &DoomTiered{Digests: []cas.Digest{d}, Time: 100}); r.Deleted != 1 {
		t.Fatal("the unreferenced chunk was not doomed")
	}
	if r := h.ok(t, &PruneZero{Digests: []cas.Digest{d}}); r.Deleted != 0 {
		t.Fatal("the zero table forgot a chunk the tier still records")
	}
	// A new reference brings it back.
	h.ok(t, &PutObject{Bucket: "bkt", Key: "b", File: f, Meta: ObjectMeta{ETag: `"e"`}, Time: 3})
	if rec, _, _ := h.s.Tiered(d); rec.Doomed != 0 {
		t.Fatalf("a referenced chunk stays doomed: %+v", rec)
	}
	if r := h.ok(t, &ForgetTiered{Digests: []cas.Digest{d}, DoomedBefore: 1000}); r.Deleted != 0 {
		t.Fatal("a live chunk was forgotten")
	}

	h.ok(t, &DeleteObject{Bucket: "bkt", Key: "b"})
	h.ok(t, &DoomTiered{Digests: []cas.Digest{d}, Time: 200})
	if r := h.ok(t, &ForgetTiered{Digests: []cas.Digest{d}, DoomedBefore: 150}); r.Deleted != 0 {
		t.Fatal("a chunk doomed after the cut-off was forgotten")
	}
	if r := h.ok(t, &ForgetTiered{Digests: []cas.Digest{d}, DoomedBefore: 250}); r.Deleted != 1 {
		t.Fatal("a chunk doomed long enough was not forgotten")
	}
	if _, ok, _ := h.s.Tiered(d); ok {
		t.Fatal("the forgotten chunk keeps its record")
	}
	if r := h.ok(t, &PruneZero{Digests: []cas.Digest{d}}); r.Deleted != 1 {
		t.Fatal("the zero table kept a chunk the tier forgot")
	}

	h.reject(t, &TierChunks{Chunks: make([]TieredChunk, MaxTierBatch+1)}, ErrTooLarge)
	h.reject(t, &TierChunks{Chunks: []TieredChunk{{Digest: d}}}, ErrInvalidCommand)
	h.reject(t, &DoomTiered{Digests: []cas.Digest{d}}, ErrInvalidCommand)
}

// TestState_TieredAfter pages through the cold tier's table.
func TestState_TieredAfter(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt", Time: 1})
	var want []TieredChunk
	for _, s := range []string{"a", "b", "c", "d"} {
		f := smallFile("tier " + s)
		h.ok(t, &PutObject{Bucket: "bkt", Key: s, File: f, Meta: ObjectMeta{ETag: `"e"`}, Time: 2})
		want = append(want, TieredChunk{Digest: f.Recipe[0].Digest, Stored: int64(len(s) + 10)})
	}
	h.ok(t, &TierChunks{Chunks: want})
	seen := map[cas.Digest]int64{}
	var after cas.Digest
	for {
		page, err := h.s.TieredAfter(after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if _, dup := seen[e.Digest]; dup {
				t.Fatalf("%s listed twice", e.Digest.Short())
			}
			seen[e.Digest] = e.Stored
		}
		after = page[len(page)-1].Digest
	}
	for _, w := range want {
		if seen[w.Digest] != w.Stored {
			t.Fatalf("%s: listed with %d bytes, want %d", w.Digest.Short(), seen[w.Digest], w.Stored)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("listed %d, want %d", len(seen), len(want))
	}
}
