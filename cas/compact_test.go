package cas

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
)

// testFiles are what the compaction tests store: text that compresses,
// noise that does not, several frames' worth of each.
func testFiles() [][]byte {
	return [][]byte{
		compressible(21, 3<<20),
		randomBytes(22, 2<<20),
		append(compressible(23, 1<<20), randomBytes(24, 1<<20)...),
		compressible(25, 20<<10), // a small file: one inline chunk
	}
}

// smallFrames makes the compactor write several frames of testFiles.
const smallFrames = 1 << 20

// checkFiles reads every file back, verified, and checks that Scrub finds
// nothing wrong and that the counters match what the index holds.
func checkFiles(t *testing.T, s *Store, files [][]byte, results []PutResult) {
	t.Helper()
	for i, r := range results {
		if got := readAll(t, s, r.Recipe); !bytes.Equal(got, files[i]) {
			t.Fatalf("file %d reads back wrong", i)
		}
	}
	var n, stored int64
	if err := s.Walk(t.Context(), func(_ Digest, size int64) error { n++; stored += size; return nil }); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(t.Context())
	if st.Chunks != n || st.StoredBytes != stored {
		t.Fatalf("stats %+v, the index holds %d chunks of %d stored bytes", st, n, stored)
	}
	sr, err := s.Scrub(t.Context(), func(e *CorruptError) error { return e })
	if err != nil || sr.Corrupt != 0 || sr.Chunks != n {
		t.Fatalf("scrub: %+v, %v", sr, err)
	}
}

func putFiles(t *testing.T, s *Store, files [][]byte) []PutResult {
	t.Helper()
	var out []PutResult
	for _, f := range files {
		out = append(out, mustPut(t, s, f))
	}
	return out
}

// TestCompact_Backlog checks what the compactor does and the backlog it
// reports: Put leaves every new chunk in the fast codec, counted as
// backlog; Compact moves them into zstd frames, which take less room,
// removes the packs Put wrote, and the backlog falls to zero.
func TestCompact_Backlog(t *testing.T) {
	dir := t.TempDir()
	s := testStore(t, dir, Options{NoCompactor: true})
	files := testFiles()
	results := putFiles(t, s, files)
	put, _ := s.Stats(t.Context())
	bl := s.Backlog()
	packed := put.Chunks - 1 // the small file's chunk is inline
	if bl.Chunks != packed || bl.Bytes <= 0 || bl.Bytes > put.StoredBytes {
		t.Fatalf("backlog after put %+v, stats %+v: want %d chunks", bl, put, packed)
	}
	_, before := s.DiskUsage()
	res, err := s.Compact(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.Stats(t.Context())
	_, afterDisk := s.DiskUsage()
	t.Logf("compacted %+v; stored %d -> %d bytes, packs %d -> %d bytes", res, put.StoredBytes, after.StoredBytes, before, afterDisk)
	if res.Chunks != packed || res.Packs < 1 {
		t.Fatalf("compaction %+v, want %d chunks moved and the hot pack removed", res, packed)
	}
	if after.StoredBytes >= put.StoredBytes || afterDisk >= before {
		t.Fatalf("compaction did not shrink the store: stored %d -> %d, packs %d -> %d", put.StoredBytes, after.StoredBytes, before, afterDisk)
	}
	if after.Chunks != put.Chunks || after.LogicalBytes != put.LogicalBytes {
		t.Fatalf("compaction changed the chunks: %+v -> %+v", put, after)
	}
	if bl := s.Backlog(); bl.Chunks != 0 || bl.Bytes != 0 || bl.Garbage != 0 {
		t.Fatalf("backlog after compaction: %+v", bl)
	}
	checkFiles(t, s, files, results)
	if again, err := s.Compact(t.Context()); err != nil || again.Chunks != 0 {
		t.Fatalf("second compaction: %+v, %v", again, err)
	}
}

// TestCompact_Restart closes the store with its backlog, reopens it (the
// backlog persists), compacts, and reopens again.
func TestCompact_Restart(t *testing.T) {
	dir := t.TempDir()
	files := testFiles()
	s := testStore(t, dir, Options{NoCompactor: true})
	results := putFiles(t, s, files)
	bl := s.Backlog()
	s.Close()

	s = testStore(t, dir, Options{NoCompactor: true})
	if got := s.Backlog(); got.Chunks != bl.Chunks || got.Bytes != bl.Bytes {
		t.Fatalf("backlog after reopening %+v, before %+v", got, bl)
	}
	checkFiles(t, s, files, results)
	if _, err := s.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(t.Context())
	s.Close()

	s = testStore(t, dir, Options{NoCompactor: true})
	if got, _ := s.Stats(t.Context()); got != st {
		t.Fatalf("stats after reopening %+v, before %+v", got, st)
	}
	if got := s.Backlog(); got.Chunks != 0 || got.Bytes != 0 || got.Garbage != 0 {
		t.Fatalf("backlog after compacting and reopening: %+v", got)
	}
	checkFiles(t, s, files, results)
}

// TestCompact_Background leaves the work to the compactor that Open
// starts: once the store is idle, the backlog drains by itself; deleting
// most of what was stored then gives the disk space back by itself too.
func TestCompact_Background(t *testing.T) {
	dir := t.TempDir()
	s := testStore(t, dir, Options{CompactIdle: time.Millisecond, PackSize: 4 << 20, anyLoad: true})
	files := testFiles()
	results := putFiles(t, s, files)
	waitFor(t, "the backlog to drain", func() bool { return s.Backlog().Chunks == 0 })
	checkFiles(t, s, files, results)

	full := dirSize(t, filepath.Join(dir, "packs"))
	var doomed []Digest
	for _, r := range results[:3] {
		doomed = append(doomed, r.Recipe.Distinct()...)
	}
	if err := s.Delete(t.Context(), doomed...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the packs to shrink", func() bool { return s.Backlog().Garbage == 0 })
	after := dirSize(t, filepath.Join(dir, "packs"))
	t.Logf("packs %d KiB -> %d KiB after deleting 3 of 4 files", full>>10, after>>10)
	if after > full/10 {
		t.Fatalf("packs took %d bytes, then %d after deleting nearly everything", full, after)
	}
	checkFiles(t, s, files[3:], results[3:])
}

// TestCompact_GivesSpaceBackOnABusyMachine: when other processes keep
// every core busy, the compactor leaves the new chunks in the fast codec,
// but still gives back the space of deleted ones as soon as the store
// itself is quiet: a node beside a training job must not fill its disk
// with garbage.
func TestCompact_GivesSpaceBackOnABusyMachine(t *testing.T) {
	dir := t.TempDir()
	s := testStore(t, dir, Options{CompactIdle: time.Millisecond, PackSize: 1 << 20, busyCPU: true})
	files := testFiles()
	results := putFiles(t, s, files)
	kept := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{5}).Read(kept)
	keep := mustPut(t, s, kept)
	full := dirSize(t, filepath.Join(dir, "packs"))
	var doomed []Digest
	for _, r := range results {
		doomed = append(doomed, r.Recipe.Distinct()...)
	}
	if err := s.Delete(t.Context(), doomed...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the packs to shrink", func() bool { return s.Backlog().Garbage == 0 })
	after := dirSize(t, filepath.Join(dir, "packs"))
	t.Logf("packs %d KiB -> %d KiB after deleting all but 3 MiB, with every core busy", full>>10, after>>10)
	if after > 4<<20 {
		t.Fatalf("packs took %d bytes, then %d after deleting all but 3 MiB", full, after)
	}
	// The chunks kept stay in the fast codec until the machine has a
	// core to spare.
	if left := s.Backlog().Chunks; left < int64(len(keep.Recipe.Distinct())) {
		t.Fatalf("%d chunks left to compact, fewer than the %d kept: the compactor did not yield", left, len(keep.Recipe.Distinct()))
	}
	got, err := io.ReadAll(s.Open(t.Context(), keep.Recipe))
	if err != nil || !bytes.Equal(got, kept) {
		t.Fatalf("the kept file reads back %d bytes (%v)", len(got), err)
	}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// TestCompact_Crash kills a process with SIGKILL in the middle of moving
// chunks, at each step of a move in turn (after the new frame is written,
// after it is synced, after the index points at it, after the old pack's
// chunks have all moved, after the old pack is removed), and checks that
// the reopened store reads every chunk, in its old form or its new one,
// with its counters right, and that compaction then finishes. A torn
// write is simulated too: the frame written last is cut in half.
func TestCompact_Crash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per step")
	}
	files := testFiles()
	for _, tc := range []struct {
		step string
		at   int  // which occurrence of the step
		tear bool // cut the newest cold pack inside its last record
	}{
		{"appended", 1, false}, {"appended", 2, true}, {"synced", 2, false}, {"committed", 1, false},
		{"committed", 2, false}, {"moved", 1, false}, {"removed", 1, false},
	} {
		t.Run(fmt.Sprintf("%s%d", tc.step, tc.at), func(t *testing.T) {
			dir := t.TempDir()
			s := testStore(t, dir, Options{NoCompactor: true, CompactFrame: smallFrames})
			results := putFiles(t, s, files)
			want, _ := s.Stats(t.Context())
			s.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestCompact_CrashChild$", "-test.v")
			cmd.Env = append(os.Environ(), "CAIRN_CRASH_DIR="+dir, "CAIRN_CRASH_STEP="+tc.step, "CAIRN_CRASH_AT="+strconv.Itoa(tc.at))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed at %s: %v\n%s", tc.step, err, out)
			}
			if tc.tear {
				tearNewestPack(t, filepath.Join(dir, "packs"))
			}

			s = testStore(t, dir, Options{NoCompactor: true, CompactFrame: smallFrames})
			if st, _ := s.Stats(t.Context()); st.Chunks != want.Chunks || st.LogicalBytes != want.LogicalBytes {
				t.Fatalf("stats after the crash %+v, before %+v", st, want)
			}
			checkFiles(t, s, files, results)
			if _, err := s.Compact(t.Context()); err != nil {
				t.Fatal(err)
			}
			if bl := s.Backlog(); bl.Chunks != 0 {
				t.Fatalf("backlog after compacting: %+v", bl)
			}
			checkFiles(t, s, files, results)
			s.Close()
			s = testStore(t, dir, Options{NoCompactor: true, CompactFrame: smallFrames})
			checkFiles(t, s, files, results)
		})
	}
}

// TestCompact_CrashChild is TestCompact_Crash's child process: it compacts
// the store it is given and kills itself with SIGKILL at the step asked.
func TestCompact_CrashChild(t *testing.T) {
	dir := os.Getenv("CAIRN_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCompact_Crash")
	}
	step := os.Getenv("CAIRN_CRASH_STEP")
	at, _ := strconv.Atoi(os.Getenv("CAIRN_CRASH_AT"))
	seen := 0
	s, err := Open(dir, Options{Logger: testLogger(t), NoCompactor: true, CompactFrame: smallFrames, hook: func(name string) {
		if name == step {
			if seen++; seen == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("compaction finished without reaching step %s %d times", step, at)
}

// tearNewestPack cuts the newest pack file in the middle of its last
// record, as a crash during the write could leave it.
func tearNewestPack(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("packs: %v", err)
	}
	newest := filepath.Join(dir, ents[len(ents)-1].Name())
	st, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(newest, st.Size()-1000); err != nil {
		t.Fatal(err)
	}
}

// TestStore_ReadsEveryForm stores chunks in every form the store can hold
// (inline raw, S2 and zstd; in a hot pack as S2, raw and zstd; in a cold
// pack as a shared zstd frame and raw) and reads each back through
// GetChunk, a Reader, and GetStored into another store.
func TestStore_ReadsEveryForm(t *testing.T) {
	ctx := t.Context()
	s := testStore(t, t.TempDir(), Options{NoCompactor: true})
	other := testStore(t, t.TempDir(), Options{NoCompactor: true})
	c, err := newCodec(DefaultMinSaving, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	zstdForm := func(b []byte) []byte {
		enc, _ := s.cmp.encoder()
		defer enc.Close()
		return append([]byte{byte(CodecZstd)}, enc.EncodeAll(b, nil)...)
	}
	small, text, noise := compressible(31, 3000), compressible(32, 200<<10), randomBytes(33, 200<<10)
	forms := map[string]struct {
		data []byte
		form []byte
	}{
		"inline raw":  {small[:1000], append([]byte{byte(CodecRaw)}, small[:1000]...)},
		"inline s2":   {small, c.encode(nil, small)},
		"inline zstd": {small[:2000], zstdForm(small[:2000])},
		"hot s2":      {text, c.encode(nil, text)},
		"hot raw":     {noise, c.encode(nil, noise)},
		"hot zstd":    {text[:100<<10], zstdForm(text[:100<<10])},
	}
	for name, f := range forms {
		if added, err := s.PutStored(ctx, chunk.Sum(f.data), f.form); err != nil || !added {
			t.Fatalf("%s: put stored: %v %v", name, added, err)
		}
	}
	// sharedFrame reports whether chunk d is in a record with others.
	sharedFrame := func(d Digest) bool {
		e, err := s.rd.lookup(d, nil)
		if err != nil || !e.packed {
			return false
		}
		raw, err := s.packs.readAt(e.loc.pack, e.loc.off, e.loc.length, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseRecord(raw, s.params.MaxSize, s.opts.CompactFrame+s.params.MaxSize)
		return err == nil && len(r.chunks) > 1
	}
	sharedSeen := 0
	check := func(stage string) {
		for name, f := range forms {
			d := chunk.Sum(f.data)
			shared := sharedFrame(d)
			if shared {
				sharedSeen++
			}
			s.rd.cache.drop(d)
			if got, err := s.GetChunk(ctx, d); err != nil || !bytes.Equal(got, f.data) {
				t.Fatalf("%s, %s: GetChunk: %v", stage, name, err)
			}
			s.rd.cache.drop(d)
			r := Recipe{{Digest: d, Size: uint32(len(f.data))}}
			if got := readAll(t, s, r); !bytes.Equal(got, f.data) {
				t.Fatalf("%s, %s: Reader reads wrong", stage, name)
			}
			for _, to := range []StoredFor{ForPeer, ForReader} {
				v, err := s.GetStored(ctx, d, to)
				if err != nil {
					t.Fatalf("%s, %s: GetStored(%d): %v", stage, name, to, err)
				}
				switch {
				case shared && to == ForReader && Codec(v[0]) != CodecRaw:
					t.Fatalf("%s, %s: GetStored for a reader: a chunk of a shared frame in form %v, want raw", stage, name, Codec(v[0]))
				case shared && to == ForPeer && Codec(v[0]) == CodecZstd:
					t.Fatalf("%s, %s: GetStored for a peer: a chunk of a shared frame in zstd, want the fast codec", stage, name)
				case stage == "as written" && !bytes.Equal(v, f.form):
					t.Fatalf("%s, %s: GetStored(%d) is not the form stored (%v, want %v)", stage, name, to, Codec(v[0]), Codec(f.form[0]))
				}
				other.Delete(ctx, d)
				if _, err := other.PutStored(ctx, d, v); err != nil {
					t.Fatalf("%s, %s: PutStored of a %v form: %v", stage, name, Codec(v[0]), err)
				}
				if got, err := other.GetChunk(ctx, d); err != nil || !bytes.Equal(got, f.data) {
					t.Fatalf("%s, %s: read from the other store: %v", stage, name, err)
				}
			}
		}
	}
	check("as written")
	if _, err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if sharedSeen != 0 {
		t.Fatalf("%d chunks in shared frames before compaction", sharedSeen)
	}
	check("compacted")
	if sharedSeen < 2 {
		t.Fatalf("%d chunks in shared frames after compaction, want at least 2", sharedSeen)
	}
}

// TestStore_CorruptPack flips a byte in a pack file: the chunks of that
// frame read as corrupt, never as wrong bytes, Scrub reports them, and
// the compactor leaves them where they are.
func TestStore_CorruptPack(t *testing.T) {
	dir := t.TempDir()
	s := testStore(t, dir, Options{NoCompactor: true, CacheSize: -1})
	data := compressible(41, 3<<20)
	res := mustPut(t, s, data)
	if _, err := s.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path, b := onlyPack(t, dir)
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s = testStore(t, dir, Options{NoCompactor: true, CacheSize: -1})
	_, err := io.ReadAll(s.Open(t.Context(), res.Recipe))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a damaged frame: %v, want ErrCorrupt", err)
	}
	var reported int
	sr, err := s.Scrub(t.Context(), func(*CorruptError) error { reported++; return nil })
	if err != nil || sr.Corrupt == 0 || reported != int(sr.Corrupt) {
		t.Fatalf("scrub of a damaged frame: %+v, %v", sr, err)
	}
	// Rewriting the pack moves the good chunks and leaves the damaged
	// ones, and the pack with them.
	id, _ := strconv.ParseUint(filepath.Base(path)[:16], 16, 64)
	s.cmp.mu.Lock()
	err = s.cmp.rewritePack(t.Context(), s.openPack(id), &CompactResult{}, paceNow)
	s.cmp.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the damaged pack went: %v", err)
	}
	if sr2, err := s.Scrub(t.Context(), func(*CorruptError) error { return nil }); err != nil || sr2.Corrupt != sr.Corrupt {
		t.Fatalf("scrub after the rewrite: %+v, %v; before %+v", sr2, err, sr)
	}
}

// TestStore_UpgradeFormat1 turns a store into what format 1 wrote (every
// chunk inline, three counters) and opens it: the chunks read back, the
// compactor counts them as backlog and moves them into packs, and gives
// the value log's space back.
func TestStore_UpgradeFormat1(t *testing.T) {
	dir := t.TempDir()
	s := testStore(t, dir, Options{NoCompactor: true})
	files := testFiles()
	results := putFiles(t, s, files)
	// Rewrite every packed chunk inline, as zstd, the way format 1 did.
	var ds []Digest
	s.Walk(t.Context(), func(d Digest, _ int64) error { ds = append(ds, d); return nil })
	enc, _ := s.cmp.encoder()
	var inline, inlineChunks, logical, stored int64
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, d := range ds {
			b, err := s.GetChunk(t.Context(), d)
			if err != nil {
				return err
			}
			v := append([]byte{byte(CodecZstd)}, enc.EncodeAll(b, nil)...)
			if len(v) > s.opts.InlineMax {
				inline += int64(len(v))
				inlineChunks++
			}
			logical += int64(len(b))
			stored += int64(len(v))
			if err := txn.Set(chunkKey(d), v); err != nil {
				return err
			}
		}
		for _, id := range s.packs.ids() {
			if err := txn.Delete(packKey(id)); err != nil {
				return err
			}
		}
		var st []byte // three varints, as format 1 wrote
		for _, v := range []int64{int64(len(ds)), logical, stored} {
			st = binary.AppendVarint(st, v)
		}
		if err := txn.Set(keyStats, st); err != nil {
			return err
		}
		return txn.Set(keyFormat, []byte{1, chunk.Format})
	})
	enc.Close()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, e := range must(os.ReadDir(filepath.Join(dir, "packs"))) {
		os.Remove(filepath.Join(dir, "packs", e.Name()))
	}

	s = testStore(t, dir, Options{NoCompactor: true})
	// Badger tells a value's length in its value log only roughly
	// without reading it: a few bytes a chunk.
	if bl := s.Backlog(); bl.Chunks != inlineChunks || bl.Bytes < inline-8*inlineChunks || bl.Bytes > inline+8*inlineChunks {
		t.Fatalf("backlog of a format 1 store %+v, want %d chunks of %d bytes", bl, inlineChunks, inline)
	}
	for i, r := range results {
		if got := readAll(t, s, r.Recipe); !bytes.Equal(got, files[i]) {
			t.Fatalf("file %d reads wrong from a format 1 store", i)
		}
	}
	res, err := s.Compact(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != inlineChunks || s.Backlog().Chunks != 0 {
		t.Fatalf("compaction of a format 1 store %+v, backlog %+v", res, s.Backlog())
	}
	for i, r := range results {
		if got := readAll(t, s, r.Recipe); !bytes.Equal(got, files[i]) {
			t.Fatalf("file %d reads wrong after moving format 1 chunks", i)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCompact_Concurrent compacts over and over while files are put,
// read and deleted: every file put and not deleted reads back, and the
// counters match the index at the end.
func TestCompact_Concurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20 MiB")
	}
	ctx := t.Context()
	s := testStore(t, t.TempDir(), Options{NoCompactor: true, PackSize: 8 << 20, CompactFrame: 1 << 20})
	stop := make(chan struct{})
	compacted := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				compacted <- nil
				return
			default:
			}
			if _, err := s.Compact(ctx); err != nil {
				compacted <- err
				return
			}
		}
	}()
	type file struct {
		data []byte
		res  PutResult
	}
	var kept []file
	for i := range 16 {
		data := compressible(uint64(100+i), 1<<20+i*1000)
		if i%3 == 0 {
			data = append(data, randomBytes(uint64(i), 512<<10)...)
		}
		res := mustPut(t, s, data)
		if i%4 == 1 {
			// Delete it, but keep the chunks it shares with files kept.
			shared := map[Digest]bool{}
			for _, f := range kept {
				for _, c := range f.res.Recipe {
					shared[c.Digest] = true
				}
			}
			var doomed []Digest
			for _, d := range res.Recipe.Distinct() {
				if !shared[d] {
					doomed = append(doomed, d)
				}
			}
			if err := s.Delete(ctx, doomed...); err != nil {
				t.Fatal(err)
			}
			continue
		}
		kept = append(kept, file{data, res})
		f := kept[len(kept)/2]
		if got := readAll(t, s, f.res.Recipe); !bytes.Equal(got, f.data) {
			t.Fatalf("file reads wrong while compacting")
		}
	}
	close(stop)
	if err := <-compacted; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	var files [][]byte
	var results []PutResult
	for _, f := range kept {
		files, results = append(files, f.data), append(results, f.res)
	}
	checkFiles(t, s, files, results)
	if bl := s.Backlog(); bl.Chunks != 0 {
		t.Fatalf("backlog after the last compaction: %+v", bl)
	}
}

// TestCompact_ReadsWithAnyCache streams compacted files with the default
// cache (frames decoded ahead land in it), one smaller than a frame
// (they are pushed out before they are read), and none (every chunk
// decodes its frame): the bytes are the same.
func TestCompact_ReadsWithAnyCache(t *testing.T) {
	dir := t.TempDir()
	files := testFiles()
	s := testStore(t, dir, Options{NoCompactor: true, CompactFrame: smallFrames})
	results := putFiles(t, s, files)
	if _, err := s.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, size := range []int64{0, 256 << 10, -1} {
		s := testStore(t, dir, Options{NoCompactor: true, CompactFrame: smallFrames, CacheSize: size})
		for round := range 2 {
			for i, r := range results {
				if got := readAll(t, s, r.Recipe); !bytes.Equal(got, files[i]) {
					t.Fatalf("cache %d, round %d: file %d reads back wrong", size, round, i)
				}
			}
		}
		s.Close()
	}
}

// TestCompact_MovesNeedNoSync checks that the compactor's moves, whose
// index entries it syncs only once a pack has moved, do not make
// SyncWrites sync: a chunk is on disk before and after a move, so a node
// answering that it holds a chunk need not wait for the compactor.
func TestCompact_MovesNeedNoSync(t *testing.T) {
	var s *Store
	moves, unsynced := 0, 0
	s = testStore(t, t.TempDir(), Options{NoCompactor: true, CompactFrame: smallFrames, hook: func(step string) {
		if step == "committed" {
			moves++
			if s.writing.Load() != 0 || s.synced.Load() < s.written.Load() {
				unsynced++
			}
		}
	}})
	putFiles(t, s, testFiles())
	if _, err := s.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	if moves < 2 || unsynced != 0 {
		t.Fatalf("%d of %d moves left writes for SyncWrites to sync", unsynced, moves)
	}
}

// TestBackground_LeavesStoreQuiet: reads made with a Background context
// (the node's own work, such as filling ETags) leave the store quiet,
// so that such work can yield to reads that are not; reads without it
// make the store busy until CompactIdle has gone by.
func TestBackground_LeavesStoreQuiet(t *testing.T) {
	const idle = 300 * time.Millisecond
	s := testStore(t, t.TempDir(), Options{CompactIdle: idle, busyCPU: true})
	files := testFiles()[:1]
	results := putFiles(t, s, files)
	waitFor(t, "the store to be quiet", func() bool { return s.Backlog().Quiet })
	read := func(ctx context.Context) {
		t.Helper()
		var b bytes.Buffer
		rd := s.Open(ctx, results[0].Recipe)
		if _, err := io.Copy(&b, rd); err != nil {
			t.Fatal(err)
		}
		rd.Close()
		if !bytes.Equal(b.Bytes(), files[0]) {
			t.Fatal("read back other bytes")
		}
		for _, ref := range results[0].Recipe {
			if _, err := s.GetChunk(ctx, ref.Digest); err != nil {
				t.Fatal(err)
			}
		}
	}
	read(Background(t.Context()))
	if !s.Backlog().Quiet {
		t.Fatal("background reads made the store busy")
	}
	read(t.Context())
	if s.Backlog().Quiet {
		t.Fatalf("the store was quiet right after a foreground read (quiet after %v)", idle)
	}
}

// TestStore_GetStoredVerifiesRaw: a chunk stored alone and raw goes to a
// reader verified, as everything raw does, so a copy gone bad on disk is
// found here; a peer takes it as stored and verifies it itself.
func TestStore_GetStoredVerifiesRaw(t *testing.T) {
	dir := t.TempDir()
	s := testStore(t, dir, Options{NoCompactor: true, CacheSize: -1})
	ctx := t.Context()
	noise := randomBytes(51, 200<<10)
	d := chunk.Sum(noise)
	if _, err := s.PutStored(ctx, d, append([]byte{byte(CodecRaw)}, noise...)); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetStored(ctx, d, ForReader); err != nil || Codec(v[0]) != CodecRaw || !bytes.Equal(v[1:], noise) {
		t.Fatalf("GetStored for a reader, intact: %v", err)
	}
	path, b := onlyPack(t, dir)
	i := bytes.Index(b, noise[100<<10:(100<<10)+64])
	if i < 0 {
		t.Fatal("the chunk's bytes are not in the pack as they are")
	}
	b[i] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetStored(ctx, d, ForReader); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("GetStored for a reader of a corrupt raw chunk: %v, want ErrCorrupt", err)
	}
	if v, err := s.GetStored(ctx, d, ForPeer); err != nil || bytes.Equal(v[1:], noise) {
		t.Fatalf("GetStored for a peer: %v, want the stored bytes as they are", err)
	}
}

// onlyPack returns the path and the bytes of the store's one pack file in
// dir, failing the test if there is not exactly one.
func onlyPack(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(dir, "packs"))
	if len(ents) != 1 {
		t.Fatalf("%d packs, want 1", len(ents))
	}
	path := filepath.Join(dir, "packs", ents[0].Name())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// TestPut_RawWhenBusy: while every core is busy, a store with RawWhenBusy
// writes new chunks raw (no CPU spent on S2), reads them back, counts
// them as backlog, and the compactor then encodes them into zstd frames
// as it does S2 ones. Without the option the same Put writes S2.
func TestPut_RawWhenBusy(t *testing.T) {
	files := testFiles()
	var logical int64
	for _, f := range files {
		logical += int64(len(f))
	}
	s2Store := testStore(t, t.TempDir(), Options{NoCompactor: true, fullCPU: true})
	putFiles(t, s2Store, files)
	viaS2, _ := s2Store.Stats(t.Context())

	s := testStore(t, t.TempDir(), Options{NoCompactor: true, RawWhenBusy: true, fullCPU: true})
	results := putFiles(t, s, files)
	raw, _ := s.Stats(t.Context())
	// Raw: one codec byte and a record header a chunk over the content.
	if raw.LogicalBytes != logical || raw.StoredBytes < logical || raw.StoredBytes > logical+64*raw.Chunks {
		t.Fatalf("busy store kept %d bytes of %d logical; want them raw", raw.StoredBytes, logical)
	}
	if viaS2.StoredBytes >= logical*9/10 {
		t.Fatalf("the store without RawWhenBusy kept %d bytes of %d: the files do not compress, the test proves nothing", viaS2.StoredBytes, logical)
	}
	// Every chunk, the small file's too (raw, it is past the inline size).
	if bl := s.Backlog(); bl.Chunks != raw.Chunks {
		t.Fatalf("backlog %+v, want every chunk (%d)", bl, raw.Chunks)
	}
	checkFiles(t, s, files, results)
	if _, err := s.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Stats(t.Context())
	if after.StoredBytes >= viaS2.StoredBytes {
		t.Fatalf("compacted raw chunks take %d bytes, more than S2's %d", after.StoredBytes, viaS2.StoredBytes)
	}
	checkFiles(t, s, files, results)
}
