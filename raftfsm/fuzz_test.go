package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cairn/cas"
	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/zstd"
)

// sampleCommands holds one command of every kind, with most fields set.
func sampleCommands() []Command {
	f := fileOf(chunkOf("a", 10), chunkOf("b", 20), chunkOf("a", 10))
	meta := ObjectMeta{ContentType: "text/plain", ContentEncoding: "gzip", CacheControl: "no-cache",
		User: map[string]string{"k": "v", "é": "\u00ff"}, Checksums: map[string]string{"CRC32": "AAAAAA=="},
		ETag: `"e-2"`, Parts: 2, PartSizes: []int64{5 << 20, 3}}
	model := &Model{RunID: runA, ArtifactPath: "model", ModelUUID: "u", ModelID: modelA, Name: "n", MLflowVersion: "3.1.0",
		UTCTimeCreated: "2026-11-27 21:43:35.476920", CreatedUnixMilli: 1_800_000_000_000,
		Flavors:               map[string]map[string]any{"python_function": {"env": map[string]any{"conda": "conda.yaml"}, "python_version": "3.12.1"}, "xgboost": {"data": "model.xgb", "n": 3.5}},
		Signature:             &Signature{Inputs: `[{"type": "double"}]`, Outputs: `[{"type": "long"}]`},
		SavedInputExampleInfo: map[string]any{"artifact_path": "input_example.json", "type": "dataframe"},
		Extra:                 map[string]any{"model_size_bytes": 1234.0, "metadata": nil, "list": []any{1.0, "x", true}},
		EnvFiles:              map[string]cas.Digest{"conda.yaml": chunk.Sum([]byte("c"))}, Error: ""}
	return []Command{
		&CreateBucket{Bucket: "bkt", IfNotExists: true, Time: 1},
		&DeleteBucket{Bucket: "bkt"},
		&DeleteBucketAndUploads{Bucket: "bkt"},
		&PutObject{Bucket: "bkt", Key: "1/" + runA + "/artifacts/model/MLmodel", File: f, Meta: meta, Time: 2, Model: model,
			Conditions: Conditions{IfMatch: `"x"`, IfNoneMatch: "*"}},
		&PutObject{Bucket: "bkt", Key: "empty", File: fileOf()},
		&CopyObject{SrcBucket: "a", SrcKey: "b", Bucket: "c", Key: "d", ReplaceMeta: true, Meta: meta, Time: 3, Model: &Model{Error: "bad"}, SrcIfMatch: `"s"`},
		&DeleteObject{Bucket: "bkt", Key: "k", Conditions: Conditions{IfMatch: `"x"`}},
		&DeletePrefix{Bucket: "bkt", Prefix: "p/", Limit: 7},
		&PutRef{Name: "r", Target: "t", IfVersion: u64(0), Time: 4},
		&DeleteRef{Name: "r", IfVersion: u64(9)},
		&CreateUpload{UploadID: "u", Bucket: "bkt", Key: "k", Meta: meta, Time: 5},
		&PutPart{UploadID: "u", Number: 3, File: f, ETag: `"p"`, Checksums: map[string]string{"SHA256": "x"}, Time: 6},
		&CompleteUpload{UploadID: "u", Bucket: "bkt", Key: "k", Parts: []CompletePart{{1, `"p"`, f.Digest}}, File: f, ETag: `"x-1"`,
			Checksums: map[string]string{"a": "b"}, Time: 7, Model: model, Conditions: Conditions{IfNoneMatch: "*"}},
		&AbortUpload{UploadID: "u"},
		&PutKey{Key: AccessKey{ID: "key-1", Sealed: []byte{1, 2, 3}, Role: RoleWrite, Buckets: []string{"bkt"}, Name: "ci", Created: 8}, Replace: true},
		&DeleteKey{ID: "key-1"},
		&PruneZero{Digests: []cas.Digest{chunk.Sum([]byte("gone"))}},
		&TierChunks{Chunks: []TieredChunk{{Digest: chunk.Sum([]byte("cold")), Stored: 4}}},
		&DoomTiered{Digests: []cas.Digest{chunk.Sum([]byte("cold"))}, Time: 9},
		&ForgetTiered{Digests: []cas.Digest{chunk.Sum([]byte("cold"))}, DoomedBefore: 10},
		&EnableFeature{Name: FeaturePutObjects},
		&PutObjects{Bucket: "bkt", Objects: []PutObject{
			{Bucket: "bkt", Key: "1/" + runA + "/artifacts/model/MLmodel", File: f, Meta: meta, Time: 11, Model: model},
			{Bucket: "bkt", Key: "1/" + runA + "/artifacts/model/model.xgb", File: fileOf(), Time: 11, Conditions: Conditions{IfNoneMatch: "*"}},
		}},
	}
}

// TestCodec_RoundTrip proves that every command survives Encode and
// Decode unchanged, and that Decode refuses what no command encodes to.
func TestCodec_RoundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("encode %v: %v", c.Op(), err)
		}
		if Op(b[0]) != c.Op() {
			t.Fatalf("%v encodes with op byte %d", c.Op(), b[0])
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %v: %v", c.Op(), err)
		}
		if !equalish(reflect.ValueOf(c), reflect.ValueOf(d)) {
			t.Fatalf("%v changed across the codec:\n got %#v\nwant %#v", c.Op(), d, c)
		}
	}
	f := smallFile("x")
	f.Size++ // the recipe no longer adds up
	bad, _ := Encode(&PutObject{Bucket: "bkt", Key: "k", File: f})
	for name, b := range map[string][]byte{
		"Empty":          nil,
		"OpOnly":         {byte(OpPutObject)},
		"UnknownOp":      append([]byte{99}, "{}"...),
		"ZeroOp":         append([]byte{0}, "{}"...),
		"NotJSON":        append([]byte{byte(OpCreateBucket)}, "{"...),
		"Trailing":       append([]byte{byte(OpCreateBucket)}, `{"bucket":"b"} x`...),
		"WrongType":      append([]byte{byte(OpDeletePrefix)}, `{"limit":"7"}`...),
		"RecipeMismatch": bad,
		"BadDigest":      append([]byte{byte(OpPutObject)}, `{"file":{"digest":"zz","size":0,"recipe":"AQ=="}}`...),
		"NoRecipe":       append([]byte{byte(OpPutObject)}, `{"file":{"size":0}}`...),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%s: decode gave %v", name, err)
		}
	}
	for op := Op(1); op <= OpPutObjects; op++ {
		if strings.HasPrefix(op.String(), "op(") {
			t.Errorf("op %d has no name", op)
		}
	}
	if Op(200).String() != "op(200)" {
		t.Errorf("unknown op prints %q", Op(200).String())
	}
}

// equalish is reflect.DeepEqual except that a nil map or slice equals an
// empty one: JSON's omitempty cannot tell them apart, and no command
// means anything different by them.
func equalish(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalish(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !equalish(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equalish(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !equalish(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
}

// FuzzDecode feeds arbitrary bytes to Decode: it must not panic, and what
// decodes must encode and decode again to an equal command, whose encoding
// is then stable.
func FuzzDecode(f *testing.F) {
	for _, c := range sampleCommands() {
		b, err := Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{byte(OpPutObject), 'n', 'u', 'l', 'l'})
	f.Add(append([]byte{byte(OpPutRef)}, `{"name":"a","Name":"b","if_version":18446744073709551615}`...))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("decode error %v is not ErrInvalidCommand", err)
			}
			return
		}
		b2, err := Encode(c)
		if err != nil {
			t.Fatalf("a decoded %v does not encode: %v", c.Op(), err)
		}
		c2, err := Decode(b2)
		if err != nil {
			t.Fatalf("re-encoded %v does not decode: %v\n%q", c.Op(), err, b2)
		}
		if !equalish(reflect.ValueOf(c), reflect.ValueOf(c2)) {
			t.Fatalf("%v changed across a round trip:\n%#v\n%#v", c.Op(), c, c2)
		}
		b3, err := Encode(c2)
		if err != nil || !bytes.Equal(b2, b3) {
			t.Fatalf("encoding of %v is not stable: %v\n%q\n%q", c.Op(), err, b2, b3)
		}
	})
}

// plainSnapshot returns a snapshot stream with its body uncompressed: a
// stream of format 1 as it is, one of format 2 with its zstd stream
// decoded (the version byte stays 2). ok is false when it does not decode.
func plainSnapshot(b []byte) (out []byte, ok bool) {
	const hdrLen = len(snapMagic) + 1 + 16
	if len(b) < hdrLen || b[len(snapMagic)] != snapZstd {
		return b, true
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(snapWindow), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		panic(err)
	}
	defer dec.Close()
	out, err = dec.DecodeAll(b[hdrLen:], bytes.Clone(b[:hdrLen]))
	return out, err == nil
}

// canonicalSnapshot parses a snapshot stream the simple way and returns
// the stream that persisting its state gives, uncompressed (plainSnapshot):
// keys sorted, the last value of a repeated key, no applied-index key, a
// fresh digest, format 2 when the state has FeatureZstdSnapshot on. ok is
// false when the stream is not a good one.
func canonicalSnapshot(b []byte) (out []byte, ok bool) {
	const hdrLen = len(snapMagic) + 1 + 16
	if len(b) < hdrLen || string(b[:len(snapMagic)]) != snapMagic || b[len(snapMagic)] != snapPlain && b[len(snapMagic)] != snapZstd {
		return nil, false
	}
	if b, ok = plainSnapshot(b); !ok || len(b) < hdrLen+1+chunk.DigestSize {
		return nil, false
	}
	body, sum := b[:len(b)-chunk.DigestSize], b[len(b)-chunk.DigestSize:]
	if chunk.Sum(body) != chunk.Digest(sum) {
		return nil, false
	}
	state := map[string][]byte{}
	rest := body[hdrLen:]
	field := func(limit uint64) ([]byte, bool) {
		n, m := binary.Uvarint(rest)
		if m <= 0 || n > limit || n > uint64(len(rest)-m) {
			return nil, false
		}
		v := rest[m : m+int(n)]
		rest = rest[m+int(n):]
		return v, true
	}
	for {
		n, m := binary.Uvarint(rest)
		if m <= 0 {
			return nil, false
		}
		if n == 0 {
			if m != len(rest) {
				return nil, false // bytes between the end mark and the digest
			}
			break
		}
		k, ok := field(maxSnapKey)
		if !ok {
			return nil, false
		}
		v, ok := field(maxSnapVal)
		if !ok {
			return nil, false
		}
		state[string(k)] = v
	}
	delete(state, string([]byte{tApplied}))
	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out = append(out, b[:hdrLen]...)
	out[len(snapMagic)] = snapPlain
	if _, on := state[string(key(tFeature, FeatureZstdSnapshot))]; on {
		out[len(snapMagic)] = snapZstd
	}
	for _, k := range keys {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(state[k])))
		out = append(out, state[k]...)
	}
	out = append(out, 0)
	sumOut := chunk.Sum(out)
	return append(out, sumOut[:]...), true
}

func memDB(tb testing.TB) *badger.DB {
	tb.Helper()
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil).
		WithMemTableSize(8 << 20).WithNumCompactors(2).WithNumGoroutines(1).WithMetricsEnabled(false))
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// persisted is the snapshot stream of db's state.
func persisted(tb testing.TB, db *badger.DB) []byte {
	tb.Helper()
	f := &fsm{db: db, notify: make(chan struct{})}
	snap, err := f.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	defer snap.Release()
	var buf bytes.Buffer
	if err := snap.(*snapshot).write(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzSnapshotStream feeds arbitrary bytes to readSnapshot, as they are
// and with a valid digest appended (so that the fuzzer reaches past the
// check): it must not panic, and a stream it accepts must be a good one
// whose state persists to the stream's canonical form.
func FuzzSnapshotStream(f *testing.F) {
	// The seed state lives in memory: fuzzing workers build it again
	// each, under coverage instrumentation that makes an on-disk state
	// slow to open.
	db := memDB(f)
	defer db.Close()
	h := &testFSM{f: &fsm{db: db, log: testLogger(f), notify: make(chan struct{})}, term: 1}
	h.s = &State{f: h.f}
	w := newWorkload(3, h.s)
	for range 30 {
		h.apply(f, w.next(f))
	}
	good := persisted(f, db)
	if c, ok := canonicalSnapshot(good); !ok || !bytes.Equal(c, good) {
		f.Fatal("the reference parser does not take a persisted snapshot as canonical")
	}
	f.Add(good)
	f.Add(good[:len(good)-chunk.DigestSize]) // the body: the fuzz adds the digest
	f.Add(good[:40])
	h.apply(f, &EnableFeature{Name: FeatureZstdSnapshot})
	zgood := persisted(f, db)
	if c, ok := canonicalSnapshot(zgood); !ok || zgood[len(snapMagic)] != snapZstd {
		f.Fatal("a state with zstd snapshots on does not persist a good format 2 stream")
	} else if p, _ := plainSnapshot(zgood); !bytes.Equal(c, p) {
		f.Fatal("the reference parser does not take a persisted format 2 snapshot as canonical")
	}
	f.Add(zgood)
	f.Add(zgood[:len(zgood)/2])
	hdr := append([]byte(snapMagic), snapPlain)
	hdr = append(hdr, make([]byte, 16)...)
	f.Add(append(bytes.Clone(hdr), 0))
	f.Add(append(bytes.Clone(hdr), 1, 'a', 2, 0, 0, 1, 'b', 0, 0))                        // the applied key, then a value
	f.Add(append(bytes.Clone(hdr), 2, 'k', 'k', 1, 'x', 2, 'k', 'k', 1, 'y', 0))          // a key twice
	f.Add(append(bytes.Clone(hdr), 9, '!', 'b', 'a', 'd', 'g', 'e', 'r', '!', 'x', 0, 0)) // a key Badger reserves
	scratch := memDB(f)
	f.Cleanup(func() { scratch.Close() })
	runs := 0
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 512<<10 {
			// In memory, Badger cannot take a value past its value
			// threshold (1 MiB), which the on-disk state sends to its
			// value log; smaller inputs hold no such value.
			return
		}
		sum := chunk.Sum(b)
		for _, in := range [][]byte{b, append(bytes.Clone(b), sum[:]...)} {
			// Most inputs fail: they go into a scratch database, and only
			// those that load are loaded again into a fresh one to check.
			if runs++; runs%4096 == 0 {
				if err := scratch.DropAll(); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := readSnapshot(bytes.NewReader(in), scratch); err != nil {
				continue
			}
			db := memDB(t)
			index, term, err := readSnapshot(bytes.NewReader(in), db)
			if err != nil {
				db.Close()
				t.Fatalf("a stream loads into one database and not another: %v", err)
			}
			want, ok := canonicalSnapshot(in)
			if !ok {
				db.Close()
				t.Fatalf("accepted a stream the reference parser refuses: %q", in)
			}
			if gi, gt := binary.BigEndian.Uint64(in[len(snapMagic)+1:]), binary.BigEndian.Uint64(in[len(snapMagic)+9:]); gi != index || gt != term {
				t.Fatalf("index %d term %d, header says %d %d", index, term, gi, gt)
			}
			got, ok := plainSnapshot(persisted(t, db))
			db.Close()
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("state of %q persists as\n%q\nwant\n%q", in, got, want)
			}
		}
	})
}
