package cas

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
)

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 42}).Read(b)
	return b
}

// compressible returns n bytes of text-like content that zstd shrinks.
func compressible(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"booster", "tree", "split_condition", "0.25", "leaf", "\"base_weights\"", "[", "]", ",", "1e-3"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
		if r.IntN(4) == 0 {
			b.WriteString(string(rune('0' + r.IntN(10))))
		}
	}
	return b.Bytes()[:n]
}

func mustPut(t testing.TB, s *Store, data []byte) PutResult {
	t.Helper()
	res, err := s.Put(t.Context(), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("put %d bytes: %v", len(data), err)
	}
	if res.Digest != chunk.Sum(data) {
		t.Fatalf("put digest %s, want %s", res.Digest.Short(), chunk.Sum(data).Short())
	}
	if res.Size != int64(len(data)) || res.Recipe.Size() != res.Size {
		t.Fatalf("put size %d, recipe %d, want %d", res.Size, res.Recipe.Size(), len(data))
	}
	return res
}

func readAll(t testing.TB, s *Store, r Recipe) []byte {
	t.Helper()
	rd := s.Open(t.Context(), r)
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return b
}

func TestStore_RoundTrip(t *testing.T) {
	s := newTestStore(t)
	p := chunk.DefaultParams()
	sizes := []int{0, 1, 2, 100, 212, 255, 256, 300, p.MinSize - 1, p.MinSize, p.MinSize + 1, p.AvgSize - 1, p.AvgSize,
		p.AvgSize + 1, p.MaxSize - 1, p.MaxSize, p.MaxSize + 1, 3*p.MaxSize + 5}
	for i, n := range sizes {
		for _, kind := range []string{"random", "text"} {
			data := randomBytes(uint64(i), n)
			if kind == "text" {
				data = compressible(uint64(i), n)
			}
			res := mustPut(t, s, data)
			if got := readAll(t, s, res.Recipe); !bytes.Equal(got, data) {
				t.Fatalf("%s %d bytes: read back differs", kind, n)
			}
		}
	}
}

func TestStore_RoundTripLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MiB round trip")
	}
	s := newTestStore(t)
	const n = 200 << 20
	src := io.LimitReader(rand.NewChaCha8([32]byte{1}), n)
	want := chunk.NewHasher()
	res, err := s.Put(t.Context(), io.TeeReader(src, want))
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != n || res.Digest != want.Digest() {
		t.Fatalf("put gave size %d digest %s", res.Size, res.Digest.Short())
	}
	rd := s.Open(t.Context(), res.Recipe)
	defer rd.Close()
	got := chunk.NewHasher()
	if m, err := io.Copy(got, rd); err != nil || m != n {
		t.Fatalf("copy back %d bytes: %v", m, err)
	}
	if got.Digest() != res.Digest {
		t.Fatal("read back digest differs")
	}
}

func TestReader_Ranges(t *testing.T) {
	s := newTestStore(t)
	data := compressible(5, 3<<20)
	res := mustPut(t, s, data)
	off := res.Recipe.Offsets()
	rd := s.Open(t.Context(), res.Recipe)
	defer rd.Close()
	for _, b := range off {
		for _, start := range []int64{b - 1, b, b + 1} {
			for _, length := range []int64{1, 2, 100, int64(res.Recipe[0].Size) + 7} {
				if start < 0 || start >= int64(len(data)) {
					continue
				}
				buf := make([]byte, length)
				n, err := rd.ReadAt(buf, start)
				want := data[start:min(start+length, int64(len(data)))]
				if n != len(want) || !bytes.Equal(buf[:n], want) {
					t.Fatalf("ReadAt(%d, %d) = %d bytes (%v), want %d", start, length, n, err, len(want))
				}
				if int64(n) < length && !errors.Is(err, io.EOF) {
					t.Fatalf("short ReadAt without EOF: %v", err)
				}
				if _, err := rd.Seek(start, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				m, _ := io.ReadFull(rd, buf)
				if !bytes.Equal(buf[:m], want) {
					t.Fatalf("Seek(%d)+Read differs", start)
				}
			}
		}
	}
	if _, err := rd.ReadAt(make([]byte, 1), int64(len(data))); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt past end: %v", err)
	}
	// Seek backwards and forwards across the read-ahead window.
	for _, pos := range []int64{int64(len(data)) - 10, 0, 1 << 20, 5} {
		rd.Seek(pos, io.SeekStart)
		b := make([]byte, 10)
		io.ReadFull(rd, b)
		if !bytes.Equal(b, data[pos:pos+10]) {
			t.Fatalf("read at %d after seek differs", pos)
		}
	}
}

func TestStore_Dedup(t *testing.T) {
	t.Run("SameFileTwice", func(t *testing.T) {
		s := newTestStore(t)
		data := compressible(1, 10<<20)
		first := mustPut(t, s, data)
		before, _ := s.Stats(t.Context())
		second := mustPut(t, s, data)
		after, _ := s.Stats(t.Context())
		if second.NewChunks != 0 || second.NewBytes != 0 || after != before {
			t.Fatalf("second put added %d chunks; stats %+v -> %+v", second.NewChunks, before, after)
		}
		if first.NewBytes != int64(len(data)) {
			t.Fatalf("first put new bytes %d, want %d", first.NewBytes, len(data))
		}
	})
	t.Run("SharedMiddle", func(t *testing.T) {
		s := newTestStore(t)
		middle := randomBytes(2, 40<<20)
		a := append(append(randomBytes(3, 5<<20), middle...), randomBytes(4, 3<<20)...)
		b := append(append(randomBytes(5, 2<<20), middle...), randomBytes(6, 7<<20)...)
		mustPut(t, s, a)
		before, _ := s.Stats(t.Context())
		rb := mustPut(t, s, b)
		after, _ := s.Stats(t.Context())
		grew := after.LogicalBytes - before.LogicalBytes
		unique := int64(2<<20 + 7<<20)
		if grew > unique+4*int64(chunk.DefaultMaxSize) {
			t.Fatalf("second file grew the store by %d bytes; its unique part is %d", grew, unique)
		}
		if rb.NewBytes != grew {
			t.Fatalf("PutResult.NewBytes %d, stats grew %d", rb.NewBytes, grew)
		}
	})
	t.Run("InsertAtFront", func(t *testing.T) {
		s := newTestStore(t)
		data := randomBytes(7, 32<<20)
		mustPut(t, s, data)
		before, _ := s.Stats(t.Context())
		mustPut(t, s, append(randomBytes(8, 1024), data...))
		after, _ := s.Stats(t.Context())
		if grew := after.LogicalBytes - before.LogicalBytes; grew > 2*int64(chunk.DefaultMaxSize) {
			t.Fatalf("1 KiB insert grew the store by %d bytes", grew)
		}
	})
}

func TestStore_Chunks(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	data := compressible(1, 1000)
	d := chunk.Sum(data)
	if _, err := s.PutChunk(ctx, d, append(data, 'x')); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("PutChunk with wrong bytes: %v", err)
	}
	if ok, _ := s.Has(ctx, d); ok {
		t.Fatal("a rejected chunk is present")
	}
	if _, err := s.GetChunk(ctx, d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetChunk of absent chunk: %v", err)
	}
	if added, err := s.PutChunk(ctx, d, data); err != nil || !added {
		t.Fatalf("PutChunk = %v, %v", added, err)
	}
	if added, err := s.PutChunk(ctx, d, data); err != nil || added {
		t.Fatalf("second PutChunk = %v, %v", added, err)
	}
	other := chunk.Sum([]byte("other"))
	missing, err := s.Missing(ctx, []Digest{other, d, other})
	if err != nil || len(missing) != 2 || missing[0] != other {
		t.Fatalf("Missing = %v, %v", missing, err)
	}
	got, err := s.GetChunk(ctx, d)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetChunk = %v", err)
	}
	st, _ := s.Stats(ctx)
	if st.Chunks != 1 || st.LogicalBytes != 1000 || st.StoredBytes >= 1000 {
		t.Fatalf("stats %+v: want one compressed 1000-byte chunk", st)
	}
	if err := s.Delete(ctx, d, other); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); st != (Stats{}) {
		t.Fatalf("stats after delete %+v", st)
	}
	if _, err := s.PutChunk(ctx, d, make([]byte, chunk.DefaultMaxSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized chunk: %v", err)
	}
}

func TestStore_Codec(t *testing.T) {
	s := newTestStore(t)
	text := compressible(1, 100<<10)
	noise := randomBytes(1, 100<<10)
	for _, tc := range []struct {
		data []byte
		want Codec
	}{{text, CodecS2}, {noise, CodecRaw}} {
		res := mustPut(t, s, tc.data)
		v, err := s.GetStored(t.Context(), res.Recipe[0].Digest, ForPeer)
		if err != nil {
			t.Fatal(err)
		}
		if Codec(v[0]) != tc.want {
			t.Errorf("stored with %v, want %v", Codec(v[0]), tc.want)
		}
	}
}

func TestStore_Corruption(t *testing.T) {
	s := newTestStore(t)
	data := compressible(3, 2<<20)
	res := mustPut(t, s, data)
	victim := res.Recipe[1].Digest
	for _, tc := range []struct {
		name  string
		value func(v []byte) []byte
	}{
		{"FlippedPayload", func(v []byte) []byte { v[len(v)/2] ^= 0x40; return v }},
		{"FlippedRaw", func(v []byte) []byte {
			raw, _ := s.codec.decode(nil, v, chunk.DefaultMaxSize)
			raw[10] ^= 1
			return append([]byte{byte(CodecRaw)}, raw...)
		}},
		{"UnknownCodec", func(v []byte) []byte { v[0] = 9; return v }},
		{"Truncated", func(v []byte) []byte { return v[:len(v)/3] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The chunk's index entry is replaced by a damaged stored
			// form, inline, then put back.
			stored, err := s.GetStored(t.Context(), victim, ForPeer)
			if err != nil {
				t.Fatal(err)
			}
			var orig []byte
			var meta byte
			err = s.db.Update(func(txn *badger.Txn) error {
				item, err := txn.Get(chunkKey(victim))
				if err != nil {
					return err
				}
				orig, _ = item.ValueCopy(nil)
				meta = item.UserMeta()
				return txn.Set(chunkKey(victim), tc.value(stored))
			})
			if err != nil {
				t.Fatal(err)
			}
			s.rd.cache.drop(victim)
			_, err = io.ReadAll(s.Open(t.Context(), res.Recipe))
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Digest != victim || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read of corrupt file: %v, want CorruptError for %s", err, victim.Short())
			}
			if _, err := s.Open(t.Context(), res.Recipe).ReadAt(make([]byte, 10), int64(res.Recipe[0].Size)+5); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadAt of corrupt chunk: %v", err)
			}
			var reported []Digest
			sr, err := s.Scrub(t.Context(), func(e *CorruptError) error { reported = append(reported, e.Digest); return nil })
			if err != nil || sr.Corrupt != 1 || len(reported) != 1 || reported[0] != victim || sr.Chunks != int64(len(res.Recipe.Distinct())) {
				t.Fatalf("scrub = %+v %v, reported %v", sr, err, reported)
			}
			s.db.Update(func(txn *badger.Txn) error {
				return txn.SetEntry(badger.NewEntry(chunkKey(victim), orig).WithMeta(meta))
			})
			s.rd.cache.drop(victim)
			if got := readAll(t, s, res.Recipe); !bytes.Equal(got, data) {
				t.Fatal("restored chunk reads wrong")
			}
		})
	}
}

func TestStore_Reopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var files []PutResult
	var datas [][]byte
	for i := range 5 {
		data := compressible(uint64(i), (i+1)*300<<10)
		datas = append(datas, data)
		files = append(files, mustPut(t, s, data))
	}
	stats, _ := s.Stats(t.Context())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), bytes.NewReader(nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v", err)
	}
	s2 := newTestStoreAt(t, dir)
	for i, f := range files {
		if got := readAll(t, s2, f.Recipe); !bytes.Equal(got, datas[i]) {
			t.Fatalf("file %d differs after reopen", i)
		}
	}
	if st, _ := s2.Stats(t.Context()); st != stats {
		t.Fatalf("stats after reopen %+v, before %+v", st, stats)
	}
}

func TestStore_ConcurrentOverlappingPuts(t *testing.T) {
	s := newTestStore(t)
	shared := randomBytes(11, 4<<20)
	var wg sync.WaitGroup
	results := make([]PutResult, 16)
	datas := make([][]byte, 16)
	for i := range 16 {
		datas[i] = append(append([]byte(nil), shared...), randomBytes(uint64(100+i%4), 1<<20)...)
		wg.Go(func() {
			res, err := s.Put(context.Background(), bytes.NewReader(datas[i]))
			if err != nil {
				t.Errorf("put %d: %v", i, err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	distinct := map[Digest]int64{}
	for i, r := range results {
		if got := readAll(t, s, r.Recipe); !bytes.Equal(got, datas[i]) {
			t.Fatalf("file %d differs", i)
		}
		for _, c := range r.Recipe {
			distinct[c.Digest] = int64(c.Size)
		}
	}
	var logical int64
	for _, n := range distinct {
		logical += n
	}
	st, _ := s.Stats(t.Context())
	if st.Chunks != int64(len(distinct)) || st.LogicalBytes != logical {
		t.Fatalf("stats %+v, want %d chunks of %d bytes: a chunk was stored twice", st, len(distinct), logical)
	}
}

func TestStore_SyncFailure(t *testing.T) {
	s := newTestStore(t)
	boom := errors.New("injected fsync error")
	s.sync.fn = func() error { return boom }
	if _, err := s.Put(t.Context(), bytes.NewReader([]byte("hello"))); !errors.Is(err, ErrFailed) {
		t.Fatalf("put with failing sync: %v", err)
	}
	// The store stays failed: a retried sync must not report success for
	// writes whose fate is unknown.
	s.sync.fn = func() error { return nil }
	if _, err := s.Put(t.Context(), bytes.NewReader([]byte("again"))); !errors.Is(err, ErrFailed) {
		t.Fatalf("put after failed sync: %v", err)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestStore_PutReadError(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Put(t.Context(), &failingReader{n: 5 << 20}); err == nil {
		t.Fatal("put from a failing reader succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Put(ctx, bytes.NewReader(make([]byte, 1<<20))); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with cancelled context: %v", err)
	}
}

func TestStore_PutStored(t *testing.T) {
	a, b := newTestStore(t), newTestStore(t)
	ctx := t.Context()
	data := compressible(4, 100<<10)
	res := mustPut(t, a, data)
	d := res.Recipe[0].Digest
	v, err := a.GetStored(ctx, d, ForPeer)
	if err != nil || Codec(v[0]) != CodecS2 {
		t.Fatalf("GetStored: %v", err)
	}
	if added, err := b.PutStored(ctx, d, v); err != nil || !added {
		t.Fatalf("PutStored: %v %v", added, err)
	}
	if got, err := b.GetChunk(ctx, d); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("chunk after PutStored: %v", err)
	}
	bad := append([]byte(nil), v...)
	bad[len(bad)/2] ^= 1
	other := chunk.Sum([]byte("other"))
	for _, tc := range []struct {
		d Digest
		v []byte
	}{{other, v}, {d, bad}, {d, []byte{9, 1, 2}}, {d, nil}} {
		if _, err := b.PutStored(ctx, tc.d, tc.v); !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("PutStored of a wrong form: %v", err)
		}
	}
	if st, _ := b.Stats(ctx); st.Chunks != 1 {
		t.Fatalf("stats after refusals: %+v", st)
	}
}

// writeUnsynced stores b as a chunk with its index entry committed but not
// synced, as a concurrent writer leaves it for a moment (and as the
// compactor leaves the chunks it moves until it has moved a pack).
func writeUnsynced(t *testing.T, s *Store, b []byte) {
	t.Helper()
	wb, err := s.wr.reserve(t.Context(), []pendingChunk{{d: chunk.Sum(b), value: s.codec.encode(nil, b), size: len(b)}})
	if err == nil {
		err = s.wr.appendPacked(wb)
	}
	if err == nil {
		err = s.dataSync.Sync()
	}
	if err == nil {
		_, err = s.wr.commit(wb)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestStore_SyncWrites checks that SyncWrites syncs exactly when a chunk
// write is not yet covered by a finished sync.
func TestStore_SyncWrites(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Put(t.Context(), bytes.NewReader([]byte("synced by Put"))); err != nil {
		t.Fatal(err)
	}
	if s.synced.Load() != s.written.Load() {
		t.Fatalf("after Put: synced %d of %d writes", s.synced.Load(), s.written.Load())
	}
	// A write without its sync, as a concurrent writer leaves it for a
	// moment.
	b := []byte("written, not synced")
	writeUnsynced(t, s, b)
	if s.synced.Load() >= s.written.Load() {
		t.Fatal("an unsynced write counts as synced")
	}
	if err := s.SyncWrites(); err != nil {
		t.Fatal(err)
	}
	if s.synced.Load() != s.written.Load() {
		t.Fatalf("after SyncWrites: synced %d of %d writes", s.synced.Load(), s.written.Load())
	}
	if err := s.SyncWrites(); err != nil { // nothing new: no sync needed
		t.Fatal(err)
	}
	s.Close()
	if err := s.SyncWrites(); !errors.Is(err, ErrClosed) {
		t.Fatalf("SyncWrites on a closed store: %v", err)
	}
}

// TestStore_PresentMeansSynced checks the two ways a writer can find a
// chunk already taken care of by another, not yet synced one: present in
// Badger (PutStoredBatch and PutChunk then sync before they answer), or
// queued in another writer's commit (write then waits for that commit, so
// that its caller's sync covers the chunk).
func TestStore_PresentMeansSynced(t *testing.T) {
	s := newTestStore(t)
	b := []byte("stored by another writer, not synced yet")
	d := chunk.Sum(b)
	v := s.codec.encode(nil, b)
	writeUnsynced(t, s, b)
	if n, err := s.PutStoredBatch(t.Context(), []StoredChunk{{Digest: d, Value: v}}); err != nil || n != 0 {
		t.Fatalf("PutStoredBatch of a present chunk: %d, %v", n, err)
	}
	if s.synced.Load() < s.written.Load() {
		t.Fatal("PutStoredBatch answered for a present chunk that is not synced")
	}
	b2 := []byte("another one")
	writeUnsynced(t, s, b2)
	if added, err := s.PutChunk(t.Context(), chunk.Sum(b2), b2); err != nil || added {
		t.Fatalf("PutChunk of a present chunk: %v, %v", added, err)
	}
	if s.synced.Load() < s.written.Load() {
		t.Fatal("PutChunk answered for a present chunk that is not synced")
	}

	// A chunk in another writer's commit: write waits for it.
	b3 := []byte("in another writer's commit")
	d3 := chunk.Sum(b3)
	other := &claim{done: make(chan struct{})}
	s.mu.Lock()
	s.inflight[d3] = other
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := s.wr.write(t.Context(), []pendingChunk{{d: d3, value: s.codec.encode(nil, b3), size: len(b3)}}); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
		t.Fatal("write returned before the other writer's commit")
	case <-time.After(100 * time.Millisecond):
	}
	// The other writer gives up: write stores the chunk itself.
	s.mu.Lock()
	delete(s.inflight, d3)
	close(other.done)
	s.mu.Unlock()
	<-done
	if ok, err := s.Has(t.Context(), d3); err != nil || !ok {
		t.Fatalf("a chunk left by a writer that gave up is not stored: %v %v", ok, err)
	}
}

// TestStore_NoSpace reopens a store with a reserve larger than any disk:
// new chunks are refused with ErrNoSpace and change nothing, while reads
// and puts of content the store already holds (which write nothing) go on.
func TestStore_NoSpace(t *testing.T) {
	dir := t.TempDir()
	old := randomBytes(41, 3<<20)
	s := newTestStoreAt(t, dir)
	first := mustPut(t, s, old)
	s.Close()

	s, err := Open(dir, Options{Logger: testLogger(t), MinFreeSpace: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	before, _ := s.Stats(ctx)
	if _, err := s.Put(ctx, bytes.NewReader(randomBytes(42, 3<<20))); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("put of new data: %v, want ErrNoSpace", err)
	}
	small := []byte("a small new chunk")
	if _, err := s.PutChunk(ctx, chunk.Sum(small), small); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("put chunk: %v, want ErrNoSpace", err)
	}
	if after, _ := s.Stats(ctx); after != before {
		t.Fatalf("refused writes changed the stats: %+v -> %+v", before, after)
	}
	again, err := s.Put(ctx, bytes.NewReader(old))
	if err != nil || again.Digest != first.Digest || again.NewChunks != 0 {
		t.Fatalf("re-put of stored content on a full disk: %+v, %v", again, err)
	}
	if got := readAll(t, s, first.Recipe); !bytes.Equal(got, old) {
		t.Fatal("read back differs")
	}
}

// TestStore_PutDigestMatchesB3sum checks a Put's file digest against what
// b3sum prints, for a one-chunk file and one of many chunks.
func TestStore_PutDigestMatchesB3sum(t *testing.T) {
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		t.Skip("b3sum not installed (apt-get install b3sum)")
	}
	s := newTestStore(t)
	for _, data := range [][]byte{compressible(51, 20000), randomBytes(52, 3<<20+17)} {
		cmd := exec.Command(b3sum, "--no-names")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("b3sum: %v", err)
		}
		res := mustPut(t, s, data)
		if got, want := res.Digest.String(), strings.TrimSpace(string(out)); got != want {
			t.Fatalf("%d bytes: put digest %s, b3sum %s", len(data), got, want)
		}
	}
}

// TestStore_PutOptions checks the hooks a Put offers: Hash is written the
// whole content in order (the daemon's MD5 ETag), and Committed is given
// every new chunk in a stored form another store accepts (the daemon's
// early pushes to peers).
func TestStore_PutOptions(t *testing.T) {
	s, peer := newTestStore(t), newTestStore(t)
	for _, data := range [][]byte{compressible(53, 3000), append(compressible(54, 3<<20), randomBytes(55, 1<<20)...)} {
		sum := md5.New()
		var pushed []StoredChunk
		res, err := s.PutWith(t.Context(), bytes.NewReader(data), PutOptions{
			Hash: sum,
			Committed: func(cs []StoredChunk) {
				for _, c := range cs {
					pushed = append(pushed, StoredChunk{Digest: c.Digest, Value: bytes.Clone(c.Value)})
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := md5.Sum(data); !bytes.Equal(sum.Sum(nil), want[:]) {
			t.Fatalf("%d bytes: the Hash hook saw other bytes", len(data))
		}
		if len(pushed) != res.NewChunks {
			t.Fatalf("%d bytes: Committed got %d chunks, the put stored %d", len(data), len(pushed), res.NewChunks)
		}
		if _, err := peer.PutStoredBatch(t.Context(), pushed); err != nil {
			t.Fatalf("%d bytes: the peer refused the chunks: %v", len(data), err)
		}
		if got := readAll(t, peer, res.Recipe); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: the peer reads the file back wrong", len(data))
		}
	}
}
