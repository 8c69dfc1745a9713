package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/cas/chunk"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestHash(t *testing.T) {
	for _, n := range []int{0, 1, 100, chunk.DefaultMinSize, 3 << 20} {
		data := randomBytes(uint64(n), n)
		fh, err := Hash(t.Context(), bytes.NewReader(data), int64(n))
		if err != nil {
			t.Fatal(err)
		}
		if fh.Digest != chunk.Sum(data) || fh.Size != int64(n) {
			t.Fatalf("%d bytes: digest %s, size %d; want the b3sum %s", n, fh.Digest, fh.Size, chunk.Sum(data))
		}
		// The recipe is what the server's chunker makes of the bytes.
		ck, _ := chunk.NewChunker(bytes.NewReader(data), chunk.DefaultParams())
		var want chunk.Recipe
		for {
			b, err := ck.Next()
			if err == io.EOF {
				break
			}
			want = append(want, chunk.Ref{Digest: chunk.Sum(b), Size: uint32(len(b))})
		}
		if len(fh.Recipe) != len(want) {
			t.Fatalf("%d bytes: %d chunks, want %d", n, len(fh.Recipe), len(want))
		}
		for i := range want {
			if fh.Recipe[i] != want[i] {
				t.Fatalf("%d bytes: chunk %d differs", n, i)
			}
		}
	}
}

func TestPut_SendsOnlyMissing(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	data := randomBytes(1, 3<<20)
	u, err := c.Put(t.Context(), "b", "k1", bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// New content: a question about its first chunk (absent: no commit
	// by digest), then the chunks go up after one question, and one
	// commit names them.
	if u.SentBytes != int64(len(data)) || u.SentChunks != u.Chunks || f.missingCalls.Load() != 2 ||
		f.storedCommits.Load() != 0 || f.commits.Load() != 1 {
		t.Fatalf("first put: %+v, %d missing calls, %d commits of a stored file, %d in all", u.PutStats, f.missingCalls.Load(),
			f.storedCommits.Load(), f.commits.Load())
	}
	if u.Object.Digest != chunk.Sum(data) {
		t.Fatalf("committed %s, want %s", u.Object.Digest, chunk.Sum(data))
	}

	t.Run("Again", func(t *testing.T) {
		f.resetCounts()
		u, err := c.Put(t.Context(), "b", "k2", bytes.NewReader(data), int64(len(data)), nil)
		// Content the server holds: the question about its first chunk,
		// then one commit naming it by digest, no chunk list, nothing sent.
		if err != nil || u.SentBytes != 0 || f.chunkPuts.Load() != 0 || f.missingCalls.Load() != 1 ||
			f.commits.Load() != 1 || f.storedCommits.Load() != 1 {
			t.Fatalf("second put: %+v, %v, %d chunk PUTs, %d questions, %d commits (%d of a stored file)", u.PutStats, err,
				f.chunkPuts.Load(), f.missingCalls.Load(), f.commits.Load(), f.storedCommits.Load())
		}
		if u.Object.Digest != chunk.Sum(data) || u.Chunks != len(f.objects["b/k1"].Recipe) {
			t.Fatalf("second put committed %s in %d chunks, want %s in %d", u.Object.Digest, u.Chunks, chunk.Sum(data), len(f.objects["b/k1"].Recipe))
		}
		got, err := c.GetRange(t.Context(), "b", "k2", 0, -1)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back: %d bytes, %v", len(got), err)
		}
	})
	t.Run("Edited", func(t *testing.T) {
		f.resetCounts()
		edited := bytes.Clone(data)
		copy(edited[1<<20:], "a change in the middle")
		fh, _ := Hash(t.Context(), bytes.NewReader(edited), int64(len(edited)))
		lacking, _ := c.Missing(t.Context(), fh.Recipe.Distinct())
		var want int64
		for _, r := range fh.Recipe {
			for _, d := range lacking {
				if d == r.Digest {
					want += int64(r.Size)
				}
			}
		}
		f.resetCounts()
		u, err := c.Put(t.Context(), "b", "k3", bytes.NewReader(edited), int64(len(edited)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if u.SentBytes != want || f.putBytes.Load() != want || u.SentChunks != len(lacking) || len(lacking) > 2 {
			t.Fatalf("edited put sent %d bytes in %d chunks, want %d in %d (at most 2)", u.SentBytes, u.SentChunks, want, len(lacking))
		}
	})
	t.Run("Empty", func(t *testing.T) {
		u, err := c.Put(t.Context(), "b", "empty", bytes.NewReader(nil), 0, nil)
		if err != nil || u.Object.Digest != chunk.Sum(nil) || u.Chunks != 0 {
			t.Fatalf("empty put: %+v, %v", u, err)
		}
	})
}

// TestPut_Batches: new content goes up in requests of about batchBytes,
// each after its own missing-chunks question, and a chunk the file repeats
// is sent once.
func TestPut_Batches(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	data := randomBytes(3, 10<<20)
	u, err := c.Put(t.Context(), "b", "k", bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// One question about the first chunk, then one a batch.
	if f.batches.Load() != 3 || f.missingCalls.Load() != 4 || f.chunkPuts.Load() != int64(u.Chunks) || u.SentBytes != int64(len(data)) {
		t.Fatalf("10 MiB went as %d batches after %d questions, %d of %d chunks, %d bytes; want 3, 4, all",
			f.batches.Load(), f.missingCalls.Load(), f.chunkPuts.Load(), u.Chunks, u.SentBytes)
	}

	f.resetCounts()
	block := randomBytes(4, 1<<20)
	rep := bytes.Repeat(block, 6)
	u, err = c.Put(t.Context(), "b", "rep", bytes.NewReader(rep), int64(len(rep)), nil)
	if err != nil {
		t.Fatal(err)
	}
	fh, _ := Hash(t.Context(), bytes.NewReader(rep), int64(len(rep)))
	var distinct int64
	for _, r := range fh.Recipe.Distinct() {
		for _, ref := range fh.Recipe {
			if ref.Digest == r {
				distinct += int64(ref.Size)
				break
			}
		}
	}
	if u.Object.Digest != chunk.Sum(rep) || u.SentBytes != distinct || distinct > 3<<20 {
		t.Fatalf("a file of one block six times sent %d bytes, want its distinct chunks' %d (under 3 MiB)", u.SentBytes, distinct)
	}

	// Chunks that compress go in S2's form; those that do not, raw.
	f.resetCounts()
	f.wireBytes.Store(0)
	var text []byte
	for i := 0; len(text) < 3<<20; i++ {
		text = fmt.Appendf(text, `{"nodeid": %d, "split": "f%d", "split_condition": %d.5, "yes": %d}, `, i, i%97, i%1013, 2*i+1)
	}
	u, err = c.Put(t.Context(), "b", "text", bytes.NewReader(text), int64(len(text)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.SentBytes != int64(len(text)) || f.wireBytes.Load() > u.SentBytes/2 {
		t.Fatalf("%d bytes of text went as %d on the wire, want under half", u.SentBytes, f.wireBytes.Load())
	}
	t.Logf("text: %d bytes sent as %d", u.SentBytes, f.wireBytes.Load())
}

// TestPut_OlderNode: against a node of a release before the batched
// chunk routes, the client finds out once and then sends and fetches
// chunks one request each.
func TestPut_OlderNode(t *testing.T) {
	f := newFakeServer(t)
	f.old.Store(true)
	c := f.client(t)
	data := randomBytes(40, 3<<20)
	for _, k := range []string{"k1", "k2"} {
		u, err := c.Put(t.Context(), "b", k, bytes.NewReader(data[:len(data)-len(k)]), int64(len(data)-len(k)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if k == "k1" && (u.SentBytes != int64(len(data)-2) || f.chunkPuts.Load() != int64(u.Chunks)) {
			t.Fatalf("put to an older node: %+v, %d chunk PUTs", u.PutStats, f.chunkPuts.Load())
		}
	}
	got, err := c.GetRange(t.Context(), "b", "k1", 0, -1)
	if err != nil || !bytes.Equal(got, data[:len(data)-2]) {
		t.Fatalf("get from an older node: %d bytes, %v", len(got), err)
	}
	// Once for the batches, once for a commit of a stored file.
	if n := f.olderAnswers.Load(); n != 2 || f.storedCommits.Load() != 1 {
		t.Fatalf("the older node answered as one %d times, to %d commits of a stored file; want 2 and 1", n, f.storedCommits.Load())
	}
}

// changing serves other bytes once after bytes have been read from it: a
// file rewritten while it is logged.
type changing struct {
	a, b  []byte
	after int64
	reads atomic.Int64
}

func (c *changing) ReadAt(p []byte, off int64) (int, error) {
	src := c.a
	if c.reads.Add(int64(len(p))) > c.after {
		src = c.b
	}
	if off >= int64(len(src)) {
		return 0, io.EOF
	}
	n := copy(p, src[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestPut_FileChangedMeanwhile: what a Put logs is one read of its
// content, chunks and digest alike (the fake server checks that they
// agree). A file rewritten halfway through the pass that chunks it is
// logged as the bytes read; one rewritten between the pass that hashes it
// whole (for a commit by digest) and the pass that chunks it is read
// again; one that changes before its chunks are read a third time (to
// send a chunk the server lost meanwhile) fails with ErrDigestMismatch
// and commits nothing more.
func TestPut_FileChangedMeanwhile(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	a := randomBytes(2, 4<<20)
	b := bytes.Clone(a)
	for i := range b {
		b[i] ^= 0xff
	}
	u, err := c.Put(t.Context(), "b", "torn", &changing{a: a, b: b, after: 2 << 20}, int64(len(a)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.Object.Digest == chunk.Sum(a) || u.Object.Digest == chunk.Sum(b) {
		t.Fatal("the change halfway through was not read: the test proves nothing")
	}

	// a2 shares its first chunk with a, which is stored: the Put hashes
	// it whole first, and it changes at the end of that pass.
	if _, err := c.Put(t.Context(), "b", "a", bytes.NewReader(a), int64(len(a)), nil); err != nil {
		t.Fatal(err)
	}
	a2, b2 := bytes.Clone(a), bytes.Clone(b)
	a2[len(a2)-1] ^= 1
	f.resetCounts()
	u, err = c.Put(t.Context(), "b", "a2", &changing{a: a2, b: b2, after: int64(len(a2))}, int64(len(a2)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.Object.Digest != chunk.Sum(b2) || f.storedCommits.Load() != 1 || f.commits.Load() != 3 {
		t.Fatalf("logged %s after %d commits (%d by digest), want the new content after 3 (by digest, BadDigest, again)",
			u.Object.Digest, f.commits.Load(), f.storedCommits.Load())
	}

	// Content nothing of which is stored, which changes once it has been
	// read whole.
	x := randomBytes(7, 4<<20)
	y := bytes.Clone(x)
	for i := range y {
		y[i] ^= 0xff
	}
	f.resetCounts()
	f.loseOnce.Store(true)
	_, err = c.Put(t.Context(), "b", "k", &changing{a: x, b: y, after: int64(len(x))}, int64(len(x)), nil)
	if !errors.Is(err, ErrDigestMismatch) || f.commits.Load()-f.storedCommits.Load() != 1 {
		t.Fatalf("got %v with %d commits, want ErrDigestMismatch after the first commit", err, f.commits.Load()-f.storedCommits.Load())
	}
}

func TestMissing_Batches(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	ds := make([]chunk.Digest, MaxMissingBatch+10)
	for i := range ds {
		ds[i][0], ds[i][1], ds[i][2] = byte(i), byte(i>>8), byte(i>>16)
	}
	got, err := c.Missing(t.Context(), ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ds) || f.missingCalls.Load() != 2 || f.maxMissing.Load() != MaxMissingBatch {
		t.Fatalf("%d missing in %d calls of at most %d, want %d in 2 of %d", len(got), f.missingCalls.Load(), f.maxMissing.Load(), len(ds), MaxMissingBatch)
	}
}

func TestPutDir(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	dir := t.TempDir()
	files := map[string][]byte{"MLmodel": []byte("flavors: {}\n"), "model.xgb": randomBytes(3, 1<<20), "sub/data.bin": randomBytes(4, 100)}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(filepath.Join(dir, "MLmodel"), filepath.Join(dir, "link"))
	res, err := c.PutDir(t.Context(), "b", "run/artifacts/model", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for _, u := range res.Uploads {
		keys = append(keys, u.Object.Key)
	}
	want := []string{"run/artifacts/model/MLmodel", "run/artifacts/model/link", "run/artifacts/model/model.xgb", "run/artifacts/model/sub/data.bin"}
	if len(keys) != len(want) || res.Files != 4 || f.missingCalls.Load() != 1 {
		t.Fatalf("keys %v (%+v, %d missing calls), want %v with one question for the folder", keys, res.PutStats, f.missingCalls.Load(), want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %v, want %v", keys, want)
		}
	}
	if res.SentBytes != res.Bytes-int64(len(files["MLmodel"])) {
		t.Fatalf("sent %d of %d bytes; want all but the linked copy", res.SentBytes, res.Bytes)
	}
	if n := f.commits.Load(); n != 1 {
		t.Fatalf("%d commits, want the folder in one", n)
	}
}

// putDirFixture is a folder of three files and the keys PutDir logs them
// under, with prefix "m".
func putDirFixture(t *testing.T) (string, []string) {
	dir := t.TempDir()
	for i, name := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(dir, name), randomBytes(uint64(10+i), 300<<10), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, []string{"m/a", "m/b", "m/c"}
}

// TestPutDir_OlderServer logs a folder to a server of a release before
// commits of several files: the client commits them one by one.
func TestPutDir_OlderServer(t *testing.T) {
	f := newFakeServer(t)
	f.old.Store(true)
	c := f.client(t)
	dir, keys := putDirFixture(t)
	res, err := c.PutDir(t.Context(), "b", "m", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.commits.Load(); n != 1+int64(len(keys)) {
		t.Fatalf("%d commits, want the refused one and one a file", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, u := range res.Uploads {
		if _, ok := f.objects["b/"+keys[i]]; !ok || u.Object.Key != keys[i] || u.Object.Version == 0 {
			t.Fatalf("upload %d: %+v, stored %v; want %s", i, u.Object, ok, keys[i])
		}
	}
}

// TestPutDir_ChunkLost has the server lose a chunk between its upload and
// the folder's commit: the client sends it again and commits once more.
func TestPutDir_ChunkLost(t *testing.T) {
	f := newFakeServer(t)
	f.loseOnce.Store(true)
	c := f.client(t)
	dir, keys := putDirFixture(t)
	res, err := c.PutDir(t.Context(), "b", "m", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.commits.Load(); n != 2 {
		t.Fatalf("%d commits, want 2: refused for the lost chunk, then done", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.objects) != len(keys) || res.SentChunks <= res.Chunks {
		t.Fatalf("%d objects stored, %d of %d chunks sent; want %d, and the lost one twice", len(f.objects), res.SentChunks, res.Chunks, len(keys))
	}
}

func TestPut_Canceled(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	data := randomBytes(5, 1<<20)
	if _, err := c.Put(ctx, "b", "k", bytes.NewReader(data), int64(len(data)), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestPut_ChunkCollectedBeforeCommit(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	data := randomBytes(6, 1<<20)
	if _, err := c.Put(t.Context(), "b", "k", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	// The same content with its last byte changed: only its last chunk
	// is new, and the first goes between the question and the commit.
	edited := bytes.Clone(data)
	edited[len(edited)-1] ^= 1
	f.resetCounts()
	f.loseOnce.Store(true)
	u, err := c.Put(t.Context(), "b", "k2", bytes.NewReader(edited), int64(len(edited)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Its first chunk is stored: a commit by digest (NoSuchFile) after
	// the question about it, then the batch's question, the resend's.
	if f.commits.Load()-f.storedCommits.Load() != 2 || f.storedCommits.Load() != 1 || f.missingCalls.Load() != 3 || u.SentChunks != 2 {
		t.Fatalf("%d commits, %d missing questions, %d chunks sent; want 2, 3 and the new and the lost chunk",
			f.commits.Load()-f.storedCommits.Load(), f.missingCalls.Load(), u.SentChunks)
	}
	got, err := c.GetRange(t.Context(), "b", "k2", 0, -1)
	if err != nil || !bytes.Equal(got, edited) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
}

// generated is size bytes of pseudo-random content made on the fly: byte
// i depends only on i, so it reads the same whatever the offsets.
type generated int64

func (g generated) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off+int64(n) < int64(g) {
		i := off + int64(n)
		var w [8]byte
		x := uint64(i/8)*0x9e3779b97f4a7c15 + 1
		x ^= x >> 31
		x *= 0xbf58476d1ce4e5b9
		binary.LittleEndian.PutUint64(w[:], x^(x>>29))
		n += copy(p[n:], w[i%8:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestPut_BoundedMemory logs 128 MiB that the server already holds and
// checks that the heap never grows by more than a small bound: the file
// is streamed, never held.
func TestPut_BoundedMemory(t *testing.T) {
	const size = 128 << 20
	f := newFakeServer(t)
	f.haveAll.Store(true)
	c := f.client(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	u, err := c.Put(t.Context(), "b", "big", generated(size), size, nil)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("put %d MiB in %d chunks; heap grew by at most %.1f MiB", size>>20, u.Chunks, float64(grew)/(1<<20))
	if grew > 48<<20 {
		t.Fatalf("heap grew by %d MiB logging %d MiB; want it bounded", grew>>20, size>>20)
	}
}

// TestPutDir_Mixed logs a folder of small files, packed into shared
// batches, beside one past packMax, streamed on its own: one question for
// the small ones, one a batch for the large one, one commit; each file's
// upload counts the bytes sent for it, a copy of another file none.
func TestPutDir_Mixed(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	dir := t.TempDir()
	small := randomBytes(21, 200<<10)
	files := map[string][]byte{"a": small, "b": small, "c": randomBytes(22, 50<<10), "big": randomBytes(23, packMax+(2<<20))}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.PutDir(t.Context(), "b", "m", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q, n := f.missingCalls.Load(), f.commits.Load(); q != 3 || n != 1 {
		t.Fatalf("%d missing questions and %d commits, want 3 (the small files, the large one's two batches) and 1", q, n)
	}
	sent := map[string]int64{}
	for _, u := range res.Uploads {
		sent[u.Object.Key] = u.SentBytes
		if u.Object.Size != int64(len(files[strings.TrimPrefix(u.Object.Key, "m/")])) {
			t.Errorf("%s: size %d", u.Object.Key, u.Object.Size)
		}
	}
	want := map[string]int64{"m/a": int64(len(small)), "m/b": 0, "m/c": 50 << 10, "m/big": packMax + (2 << 20)}
	if !maps.Equal(sent, want) {
		t.Fatalf("bytes sent by file %v, want %v", sent, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.objects) != 4 {
		t.Fatalf("%d objects stored, want 4", len(f.objects))
	}
}

// TestPutMany_Groups logs more files than one commit holds: they go in
// two commits, each all or none, and the result lists every file in the
// order given.
func TestPutMany_Groups(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(t)
	items := make([]PutItem, MaxCommitMany+3)
	for i := range items {
		b := []byte(fmt.Sprintf("file %d", i))
		items[i] = PutItem{Key: fmt.Sprintf("k/%05d", len(items)-i), R: bytes.NewReader(b), Size: int64(len(b))}
	}
	res, err := c.PutMany(t.Context(), "b", items, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.commits.Load(); n != 2 {
		t.Fatalf("%d commits, want 2", n)
	}
	if len(res.Uploads) != len(items) || res.Files != len(items) {
		t.Fatalf("%d uploads, %d files counted, want %d", len(res.Uploads), res.Files, len(items))
	}
	for i, u := range res.Uploads {
		if u.Object.Key != items[i].Key || u.Object.Size != items[i].Size || u.Object.Version == 0 {
			t.Fatalf("upload %d: %+v, want %s", i, u.Object, items[i].Key)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.objects) != len(items) {
		t.Fatalf("%d objects stored, want %d", len(f.objects), len(items))
	}
}
