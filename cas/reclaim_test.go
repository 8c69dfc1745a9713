package cas

import (
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"syscall"

	"testing"

	"cairn/cas/chunk"
)

func dirSize(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		// Count allocated blocks, as du does: Badger's files may be
		// sparse or preallocated.
		n += info.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStore_Reclaim(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 500 MiB")
	}
	dir := t.TempDir()
	s := newTestStoreAt(t, dir)
	ctx := t.Context()
	const files, each = 50, 10 << 20
	var results []PutResult
	for i := range files {
		src := io.LimitReader(rand.NewChaCha8([32]byte{byte(i), 7}), each)
		res, err := s.Put(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	full := dirSize(t, dir)
	var doomed []Digest
	for i, r := range results {
		if i%5 != 0 { // delete 80%
			doomed = append(doomed, r.Recipe.Distinct()...)
		}
	}
	if err := s.Delete(ctx, doomed...); err != nil {
		t.Fatal(err)
	}
	rr, err := s.Reclaim(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	after := dirSize(t, dir)
	t.Logf("data dir %d MiB -> %d MiB after deleting 80%% (%d value log files rewritten in %v)",
		full>>20, after>>20, rr.Rewritten, rr.Took)
	if after > full/2 {
		t.Fatalf("data dir fell from %d to %d bytes: less than half", full, after)
	}
	for i, r := range results {
		if i%5 != 0 {
			continue
		}
		rd := s.Open(ctx, r.Recipe)
		h := chunk.NewHasher()
		if _, err := io.Copy(h, rd); err != nil {
			t.Fatalf("kept file %d after reclaim: %v", i, err)
		}
		rd.Close()
		if h.Digest() != r.Digest {
			t.Fatalf("kept file %d reads wrong after reclaim", i)
		}
	}
}
