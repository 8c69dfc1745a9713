package client

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/cas/chunk"
)

func TestPlanFetch(t *testing.T) {
	// A recipe whose chunk B appears twice: A B C B D.
	parts := [][]byte{randomBytes(10, 1000), randomBytes(11, 1000), randomBytes(12, 1000), randomBytes(13, 1000)}
	a, b, c, d := parts[0], parts[1], parts[2], parts[3]
	var recipe chunk.Recipe
	var content []byte
	for _, p := range [][]byte{a, b, c, b, d} {
		recipe = append(recipe, chunk.Ref{Digest: chunk.Sum(p), Size: uint32(len(p))})
		content = append(content, p...)
	}
	t.Run("Empty", func(t *testing.T) {
		p, err := planFetch(t.Context(), bytes.NewReader(nil), 0, recipe)
		if err != nil || p.good != 0 || len(p.fetch) != 4 || len(p.copies) != 0 {
			t.Fatalf("plan %+v, %v; want 4 distinct fetches", p, err)
		}
		if got := p.fetch[1].offs; len(got) != 2 || got[0] != 1000 || got[1] != 3000 {
			t.Fatalf("chunk B goes to %v, want [1000 3000]", got)
		}
	})
	t.Run("Half", func(t *testing.T) {
		// The first 2.5 chunks arrived; the third is cut short.
		partial := content[:2500]
		p, err := planFetch(t.Context(), bytes.NewReader(partial), int64(len(partial)), recipe)
		if err != nil || p.good != 2 || p.goodBytes != 2000 {
			t.Fatalf("plan %+v, %v; want A and B good", p, err)
		}
		// B's second place is copied locally; C and D are fetched.
		if len(p.copies) != 1 || p.copies[0] != (chunkCopy{size: 1000, from: 1000, to: 3000}) || len(p.fetch) != 2 {
			t.Fatalf("plan %+v, want one local copy of B and C, D fetched", p)
		}
	})
	t.Run("Corrupt", func(t *testing.T) {
		bad := bytes.Clone(content)
		bad[10] ^= 1 // A is wrong
		bad[4500] ^= 1
		p, err := planFetch(t.Context(), bytes.NewReader(bad), int64(len(bad)), recipe)
		if err != nil || p.good != 3 || len(p.fetch) != 2 || len(p.copies) != 0 {
			t.Fatalf("plan %+v, %v; want A and D fetched, the rest good", p, err)
		}
	})
}

func TestGetFile(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	data := randomBytes(20, 4<<20)
	st := f.store("b", "k", data)
	n := len(st.Recipe)
	dir := t.TempDir()
	dest := filepath.Join(dir, "sub", "k")

	t.Run("Fresh", func(t *testing.T) {
		f.resetCounts()
		d, err := c.GetFile(t.Context(), "b", "k", dest, nil)
		if err != nil || d.FetchedChunks != n || int(f.chunkGets.Load()) != n {
			t.Fatalf("get: %+v, %v, %d chunk GETs", d, err, f.chunkGets.Load())
		}
		sameBytes(t, dest, data)
	})
	t.Run("Unchanged", func(t *testing.T) {
		f.resetCounts()
		d, err := c.GetFile(t.Context(), "b", "k", dest, nil)
		if err != nil || d.Unchanged != 1 || f.chunkGets.Load() != 0 {
			t.Fatalf("get: %+v, %v, %d chunk GETs; want nothing fetched", d, err, f.chunkGets.Load())
		}
	})
	t.Run("Resume", func(t *testing.T) {
		os.Remove(dest)
		// A partial file holding the first half, and garbage after it.
		half := int(chunk.Recipe(st.Recipe).Offsets()[n/2])
		partial := append(bytes.Clone(data[:half]), randomBytes(21, 1000)...)
		os.WriteFile(dest+PartialSuffix, partial, 0o644)
		f.resetCounts()
		d, err := c.GetFile(t.Context(), "b", "k", dest, nil)
		if err != nil || d.ReusedChunks != n/2 || d.FetchedChunks != n-n/2 || int(f.chunkGets.Load()) != n-n/2 {
			t.Fatalf("resume: %+v, %v, %d chunk GETs; want %d reused", d.GetStats, err, f.chunkGets.Load(), n/2)
		}
		sameBytes(t, dest, data)
		if _, err := os.Stat(dest + PartialSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("partial file left: %v", err)
		}
	})
	t.Run("CorruptChunk", func(t *testing.T) {
		bad := st.Recipe[n-1].Digest
		f.mu.Lock()
		f.corrupt[bad] = true
		f.mu.Unlock()
		defer func() { f.mu.Lock(); delete(f.corrupt, bad); f.mu.Unlock() }()
		dest := filepath.Join(dir, "corrupt")
		_, err := c.GetFile(t.Context(), "b", "k", dest, nil)
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), bad.String()) {
			t.Fatalf("got %v, want ErrDigestMismatch naming %s", err, bad)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("destination exists after a corrupt chunk: %v", err)
		}
		p, _ := os.ReadFile(dest + PartialSuffix)
		if off := chunk.Recipe(st.Recipe).Offsets()[n-1]; int64(len(p)) > off && bytes.Equal(p[off:off+1], []byte{data[off] ^ 1}) {
			t.Fatal("the corrupt byte reached the partial file")
		}
	})
	t.Run("WholeDigestWrong", func(t *testing.T) {
		f.mu.Lock()
		lie := f.objects["b/k"]
		lie.Digest = chunk.Sum([]byte("something else"))
		f.objects["b/k"] = lie
		f.mu.Unlock()
		defer f.store("b", "k", data)
		dest := filepath.Join(dir, "lie")
		if _, err := c.GetFile(t.Context(), "b", "k", dest, nil); !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("got %v, want ErrDigestMismatch", err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("destination exists after a whole-file mismatch: %v", err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		if _, err := c.GetFile(t.Context(), "b", "nope", filepath.Join(dir, "nope"), nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
}

func sameBytes(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differing from the %d expected", path, len(got), len(want))
	}
}

func TestGetRange(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	data := randomBytes(30, 3<<20)
	st := f.store("b", "k", data)
	offs := chunk.Recipe(st.Recipe).Offsets()
	for _, tc := range []struct {
		off, n int64
		chunks int64
	}{
		{0, 1, 1},
		{offs[1] - 1, 2, 2},
		{offs[2], offs[3] - offs[2], 1},
		{offs[2] + 5, offs[5] - offs[2], 4},
		{int64(len(data)) - 3, 10, 1},
		{0, -1, int64(len(st.Recipe))},
		{int64(len(data)), 5, 0},
	} {
		f.resetCounts()
		got, err := c.GetRange(t.Context(), "b", "k", tc.off, tc.n)
		end := int64(len(data))
		if tc.n >= 0 {
			end = min(end, tc.off+tc.n)
		}
		if err != nil || !bytes.Equal(got, data[tc.off:end]) {
			t.Fatalf("range %d+%d: %d bytes, %v", tc.off, tc.n, len(got), err)
		}
		if f.chunkGets.Load() != tc.chunks {
			t.Fatalf("range %d+%d fetched %d chunks, want %d", tc.off, tc.n, f.chunkGets.Load(), tc.chunks)
		}
	}
	if _, err := c.GetRange(t.Context(), "b", "k", int64(len(data))+1, 1); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("offset past the end: %v", err)
	}
}

// TestGet_Batches: chunks come back in requests of about fetchGroupBytes,
// and a node that answers fewer chunks than asked (its batch was full) is
// asked again for the rest.
func TestGet_Batches(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	data := randomBytes(31, 6<<20)
	st := f.store("b", "k", data)
	got, err := c.GetRange(t.Context(), "b", "k", 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	if n := f.chunkGets.Load(); n != int64(len(st.Recipe)) || f.fetches.Load() > 7 {
		t.Fatalf("fetched %d chunks in %d requests, want each of %d once in at most 7", n, f.fetches.Load(), len(st.Recipe))
	}
	f.resetCounts()
	f.fetchLimit.Store(2)
	dest := filepath.Join(t.TempDir(), "k")
	if _, err := c.GetFile(t.Context(), "b", "k", dest, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, data) {
		t.Fatal("the file got from short answers differs")
	}
	if got, err := c.GetRange(t.Context(), "b", "k", 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get from short answers: %d bytes, %v", len(got), err)
	}
	if n := f.chunkGets.Load(); n != 2*int64(len(st.Recipe)) {
		t.Fatalf("fetched %d chunks from short answers, want each of %d twice", n, len(st.Recipe))
	}
}

func TestGetDir(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	files := map[string][]byte{"MLmodel": []byte("a: b\n"), "model.xgb": randomBytes(40, 700<<10), "x/y.txt": []byte("y"), "z": nil}
	for k, b := range files {
		f.store("b", "run/artifacts/m/"+k, b)
	}
	f.store("b", "run/artifacts/other", []byte("not under the prefix"))
	f.store("b", "run/artifacts/m/x/", nil) // a folder marker
	dest := t.TempDir()
	res, err := c.Get(t.Context(), "b/run/artifacts/m/", dest, nil)
	if err != nil || res.Files != 4 || len(res.Downloads) != 4 {
		t.Fatalf("get dir: %+v, %v", res.GetStats, err)
	}
	for k, b := range files {
		sameBytes(t, filepath.Join(dest, filepath.FromSlash(k)), b)
	}
	t.Run("Escape", func(t *testing.T) {
		f.store("c", "p/../../evil", []byte("x"))
		if _, err := c.GetDir(t.Context(), "c", "p/", t.TempDir(), nil); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("got %v, want a refusal of the .. path", err)
		}
	})
}
