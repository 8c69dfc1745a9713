package cas

import (
	"bytes"
	"fmt"
	"testing"

	"cairn/cas/chunk"
)

// storedBatch returns n chunks of size bytes each, in PutStoredBatch's
// form, the recipe of the file they make and its bytes.
func storedBatch(s *Store, tag string, n, size int) ([]StoredChunk, Recipe, []byte) {
	var cs []StoredChunk
	var recipe Recipe
	var file []byte
	for i := range n {
		unit := []byte(fmt.Sprintf("%s chunk %d;", tag, i))
		b := bytes.Repeat(unit, size/len(unit)+1)[:size]
		d := chunk.Sum(b)
		cs = append(cs, StoredChunk{Digest: d, Value: s.codec.encode(nil, b)})
		recipe = append(recipe, chunk.Ref{Digest: d, Size: uint32(len(b))})
		file = append(file, b...)
	}
	return cs, recipe, file
}

// TestCache_FreshForReadBack checks that the chunks a batch stores stay
// decoded for the commit that reads their file back, which takes them
// out again; that a batch that fails keeps none; and that fresh chunks
// take at most half the cache.
func TestCache_FreshForReadBack(t *testing.T) {
	s := testStore(t, t.TempDir(), Options{CacheSize: 1 << 20})
	cs, recipe, file := storedBatch(s, "a", 4, 64<<10)
	if n, err := s.PutStoredBatch(t.Context(), cs); err != nil || n != 4 {
		t.Fatalf("PutStoredBatch: %d, %v", n, err)
	}
	for _, c := range cs {
		if !s.rd.cache.has(c.Digest) {
			t.Fatalf("chunk %s not kept for the read back", c.Digest.Short())
		}
	}
	var got bytes.Buffer
	if err := s.ReadBack(t.Context(), recipe, &got); err != nil || !bytes.Equal(got.Bytes(), file) {
		t.Fatalf("ReadBack: %d bytes, %v", got.Len(), err)
	}
	for _, c := range cs {
		if s.rd.cache.has(c.Digest) {
			t.Fatalf("chunk %s still cached after the read back it was kept for", c.Digest.Short())
		}
	}
	if s.rd.cache.fresh != 0 {
		t.Fatalf("fresh bytes after the read back: %d", s.rd.cache.fresh)
	}

	// A batch with a chunk that does not match its digest stores none
	// and keeps none.
	good, _, _ := storedBatch(s, "b", 1, 1000)
	bad, _, _ := storedBatch(s, "c", 1, 1000)
	bad[0].Digest = chunk.Sum([]byte("something else"))
	if _, err := s.PutStoredBatch(t.Context(), append(good, bad...)); err == nil {
		t.Fatal("PutStoredBatch took a chunk that does not match its digest")
	}
	if s.rd.cache.has(good[0].Digest) {
		t.Fatal("a refused batch left a chunk in the cache")
	}

	// 12 chunks of 64 KiB: only what fits in half of the 1 MiB cache
	// stays fresh; the read back takes the rest from disk.
	cs, recipe, file = storedBatch(s, "d", 12, 64<<10)
	if _, err := s.PutStoredBatch(t.Context(), cs); err != nil {
		t.Fatal(err)
	}
	if f := s.rd.cache.fresh; f == 0 || f > 512<<10 {
		t.Fatalf("fresh bytes %d, want some, at most half of the 1 MiB cache", f)
	}
	got.Reset()
	if err := s.ReadBack(t.Context(), recipe, &got); err != nil || !bytes.Equal(got.Bytes(), file) {
		t.Fatalf("ReadBack: %d bytes, %v", got.Len(), err)
	}
	if s.rd.cache.fresh != 0 {
		t.Fatalf("fresh bytes after the read back: %d", s.rd.cache.fresh)
	}
}
