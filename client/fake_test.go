package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"cairn/cas/chunk"
)

// fakeServer speaks the few /v1 routes that Put and Get use, over an
// in-memory map of chunks and objects. It fakes the HTTP protocol, not
// cairn's storage: the end-to-end tests against a real node live in
// package daemon.
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	chunks  map[chunk.Digest][]byte
	objects map[string]Stat // by bucket/key
	// corrupt flips a byte of these chunks in GET answers.
	corrupt map[chunk.Digest]bool

	// haveAll makes the server claim every chunk.
	haveAll atomic.Bool
	// loseOnce makes the next commit find its first chunk gone, as if
	// garbage collection took it after the missing-chunks question.
	loseOnce atomic.Bool

	missingCalls, chunkPuts, chunkGets, commits atomic.Int64
	storedCommits                               atomic.Int64 // commits of a stored file, counted in commits too
	batches                                     atomic.Int64
	fetchLimit                                  atomic.Int64 // chunks a fetch answers at most (0: all)
	fetches                                     atomic.Int64
	// old makes the server answer the batched chunk routes as a release
	// before them did; olderAnswers counts those answers.
	old          atomic.Bool
	olderAnswers atomic.Int64
	wireBytes    atomic.Int64 // chunk bytes in batches as sent
	maxMissing   atomic.Int64
	putBytes     atomic.Int64
}

func newFakeServer(t testing.TB) *fakeServer {
	f := &fakeServer{chunks: map[chunk.Digest][]byte{}, objects: map[string]Stat{}, corrupt: map[chunk.Digest]bool{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) client(t testing.TB, mods ...func(*Config)) *Client {
	cfg := Config{Endpoints: []string{f.URL}, Sleep: noSleep}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func noSleep(ctx context.Context, d time.Duration) error { return ctx.Err() }

func fakeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Error{Code: code, Message: code})
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	route, rest, _ := strings.Cut(p, "/")
	switch {
	case route == "chunks" && rest == "missing":
		f.missing(w, r)
	case route == "chunks" && (rest == "" || rest == "fetch") && f.old.Load():
		// A release before batches reads "" and "fetch" as digests.
		f.olderAnswers.Add(1)
		fakeError(w, 400, "InvalidDigest")
	case route == "chunks" && rest == "" && r.Method == http.MethodPost:
		f.batch(w, r)
	case route == "chunks" && rest == "fetch":
		f.fetch(w, r)
	case route == "chunks":
		f.chunk(w, r, rest)
	case route == "commit":
		f.commit(w, r, rest)
	case route == "stat":
		f.mu.Lock()
		st, ok := f.objects[rest]
		f.mu.Unlock()
		if !ok {
			fakeError(w, 404, "NoSuchKey")
			return
		}
		json.NewEncoder(w).Encode(st)
	case route == "objects" && r.Method == http.MethodGet:
		f.list(w, r, strings.TrimSuffix(rest, "/"))
	case route == "resolve":
		uri := r.URL.Query().Get("uri")
		f.mu.Lock()
		st, ok := f.objects[uri]
		f.mu.Unlock()
		if !ok {
			fakeError(w, 404, "NoSuchKey")
			return
		}
		json.NewEncoder(w).Encode(Resolved{URI: uri, Bucket: st.Bucket, Key: st.Key, Object: &st.Object})
	default:
		fakeError(w, 404, "NoSuchRoute")
	}
}

func (f *fakeServer) missing(w http.ResponseWriter, r *http.Request) {
	f.missingCalls.Add(1)
	var req MissingRequest
	json.NewDecoder(r.Body).Decode(&req)
	if int64(len(req.Digests)) > f.maxMissing.Load() {
		f.maxMissing.Store(int64(len(req.Digests)))
	}
	if len(req.Digests) > MaxMissingBatch {
		fakeError(w, 400, "InvalidRequest")
		return
	}
	out := MissingResult{Missing: []chunk.Digest{}}
	if f.haveAll.Load() {
		json.NewEncoder(w).Encode(out)
		return
	}
	f.mu.Lock()
	for _, d := range req.Digests {
		if _, ok := f.chunks[d]; !ok {
			out.Missing = append(out.Missing, d)
		}
	}
	f.mu.Unlock()
	json.NewEncoder(w).Encode(out)
}

// fetch answers the chunks asked for, raw, in order; a corrupt one with
// a byte flipped. It stops after fetchLimit chunks when that is set, as a
// node stops at its batch size.
func (f *fakeServer) fetch(w http.ResponseWriter, r *http.Request) {
	f.fetches.Add(1)
	var req MissingRequest
	json.NewDecoder(r.Body).Decode(&req)
	var body []byte
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range req.Digests {
		if n := int(f.fetchLimit.Load()); n > 0 && i == n {
			w.Header().Set(HeaderTruncated, strconv.Itoa(i))
			break
		}
		b, ok := f.chunks[d]
		if !ok {
			fakeError(w, 404, "NoSuchChunk")
			return
		}
		f.chunkGets.Add(1)
		if f.corrupt[d] {
			b = append([]byte(nil), b...)
			b[0] ^= 1
		}
		body = chunk.AppendBatch(body, d, append([]byte{chunk.RawForm}, b...))
	}
	w.Write(body)
}

// batch takes a batch of raw chunks, all or none.
func (f *fakeServer) batch(w http.ResponseWriter, r *http.Request) {
	f.batches.Add(1)
	got := map[chunk.Digest][]byte{}
	err := chunk.ReadBatch(r.Body, 1<<24, func(d chunk.Digest, v []byte) error {
		b := v[1:]
		f.wireBytes.Add(int64(len(b)))
		switch v[0] {
		case chunk.RawForm:
		case s2Form:
			var err error
			if b, err = s2.Decode(nil, b); err != nil {
				return err
			}
		default:
			return errors.New("unknown form")
		}
		if chunk.Sum(b) != d {
			return errors.New("bad chunk")
		}
		got[d] = b
		return nil
	})
	if err != nil {
		fakeError(w, 400, "BadDigest")
		return
	}
	f.mu.Lock()
	for d, b := range got {
		f.chunks[d] = b
		f.chunkPuts.Add(1)
		f.putBytes.Add(int64(len(b)))
	}
	f.mu.Unlock()
	json.NewEncoder(w).Encode(ChunkBatchResult{Added: len(got)})
}

func (f *fakeServer) chunk(w http.ResponseWriter, r *http.Request, hex string) {
	d, err := chunk.ParseDigest(hex)
	if err != nil {
		fakeError(w, 400, "InvalidDigest")
		return
	}
	switch r.Method {
	case http.MethodPut:
		f.chunkPuts.Add(1)
		b, _ := io.ReadAll(r.Body)
		f.putBytes.Add(int64(len(b)))
		if chunk.Sum(b) != d {
			fakeError(w, 400, "BadDigest")
			return
		}
		f.mu.Lock()
		f.chunks[d] = b
		f.mu.Unlock()
		json.NewEncoder(w).Encode(ChunkPutResult{Digest: d, Added: true})
	case http.MethodGet:
		f.chunkGets.Add(1)
		f.mu.Lock()
		b, ok := f.chunks[d]
		bad := f.corrupt[d]
		f.mu.Unlock()
		if !ok {
			fakeError(w, 404, "NoSuchChunk")
			return
		}
		if bad {
			b = append([]byte(nil), b...)
			b[0] ^= 1
		}
		w.Write(b)
	}
}

func (f *fakeServer) commit(w http.ResponseWriter, r *http.Request, path string) {
	f.commits.Add(1)
	bucket, key, _ := strings.Cut(path, "/")
	if key == "" {
		f.commitMany(w, r, bucket)
		return
	}
	var req CommitRequest
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Stored {
		f.storedCommits.Add(1)
		if f.old.Load() {
			f.unknownField(w, "stored")
			return
		}
		if req.Chunks = f.recipeOf(req.Digest, req.Size); req.Chunks == nil {
			fakeError(w, 404, "NoSuchFile")
			return
		}
	}
	if code := f.checkCommit(req); code != "" {
		fakeError(w, 400, code)
		return
	}
	json.NewEncoder(w).Encode(f.putObject(bucket, key, req))
}

// unknownField answers as a release before a field of the commit did: the
// JSON decoder refuses it.
func (f *fakeServer) unknownField(w http.ResponseWriter, field string) {
	f.olderAnswers.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(400)
	json.NewEncoder(w).Encode(Error{Code: "MalformedJSON", Message: `malformed JSON body: unknown field "` + field + `"`})
}

// commitMany commits several files, all or none; a fake of a release
// before it answers as that release's commit of one file did.
func (f *fakeServer) commitMany(w http.ResponseWriter, r *http.Request, bucket string) {
	if f.old.Load() {
		f.unknownField(w, "objects")
		return
	}
	var req CommitManyRequest
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range req.Objects {
		if code := f.checkCommit(o.CommitRequest); code != "" {
			fakeError(w, 400, code)
			return
		}
	}
	var out CommitManyResult
	for _, o := range req.Objects {
		out.Objects = append(out.Objects, f.putObject(bucket, o.Key, o.CommitRequest))
	}
	json.NewEncoder(w).Encode(out)
}

// checkCommit returns the error code of a commit of req, or "". f.mu is
// held.
func (f *fakeServer) checkCommit(req CommitRequest) string {
	if len(req.Chunks) > 0 && f.loseOnce.CompareAndSwap(true, false) {
		delete(f.chunks, req.Chunks[0].Digest)
	}
	h := chunk.NewHasher()
	for _, c := range req.Chunks {
		b, ok := f.chunks[c.Digest]
		if f.haveAll.Load() {
			continue
		}
		if !ok {
			return "MissingChunks"
		}
		h.Write(b)
	}
	if h.Digest() != req.Digest && !f.haveAll.Load() {
		return "BadDigest"
	}
	return ""
}

// recipeOf returns the recipe of a stored file of digest d and size
// size, or nil; f.mu is held.
func (f *fakeServer) recipeOf(d chunk.Digest, size int64) chunk.Recipe {
	for _, st := range f.objects {
		if st.Digest == d && st.Size == size && len(st.Recipe) > 0 {
			return st.Recipe
		}
	}
	return nil
}

// putObject stores a checked commit; f.mu is held.
func (f *fakeServer) putObject(bucket, key string, req CommitRequest) PutResult {
	o := Object{Bucket: bucket, Key: key, Digest: req.Digest, Size: req.Size, Version: uint64(len(f.objects) + 1)}
	f.objects[bucket+"/"+key] = Stat{Object: o, Recipe: req.Chunks}
	return PutResult{Object: o, Chunks: len(req.Chunks)}
}

func (f *fakeServer) list(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	prefix := q.Get("prefix")
	var keys []string
	f.mu.Lock()
	for k := range f.objects {
		if b, key, _ := strings.Cut(k, "/"); b == bucket && strings.HasPrefix(key, prefix) && key > q.Get("start_after") {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	out := ListResult{Objects: []Object{}}
	for i, k := range keys {
		if i == 2 { // small pages, to exercise paging
			out.Truncated, out.Next = true, keys[i-1]
			break
		}
		out.Objects = append(out.Objects, f.objects[bucket+"/"+k].Object)
	}
	f.mu.Unlock()
	json.NewEncoder(w).Encode(out)
}

// store puts content as bucket/key straight into the fake.
func (f *fakeServer) store(bucket, key string, content []byte) Stat {
	fh, err := Hash(context.Background(), bytes.NewReader(content), int64(len(content)))
	if err != nil {
		panic(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var off int64
	for _, r := range fh.Recipe {
		f.chunks[r.Digest] = content[off : off+int64(r.Size)]
		off += int64(r.Size)
	}
	st := Stat{Object: Object{Bucket: bucket, Key: key, Digest: fh.Digest, Size: fh.Size}, Recipe: fh.Recipe}
	f.objects[bucket+"/"+key] = st
	return st
}

func (f *fakeServer) resetCounts() {
	f.missingCalls.Store(0)
	f.chunkPuts.Store(0)
	f.chunkGets.Store(0)
	f.commits.Store(0)
	f.storedCommits.Store(0)
	f.putBytes.Store(0)
}
