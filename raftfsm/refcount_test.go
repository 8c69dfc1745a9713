package raftfsm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"cairn/cas"
)

// workload generates random commands over a handful of buckets, keys,
// uploads and shared chunks. Complete commands are built as a proposer
// builds them, from the parts the state holds, so it reads the state it
// feeds.
type workload struct {
	r       *rand.Rand
	s       *State
	buckets []string
	keys    []string
	uploads []string
	chunks  []cas.Ref
	files   []File // a pool, so that keys share files
}

func newWorkload(seed uint64, s *State) *workload {
	w := &workload{
		r:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		s:       s,
		buckets: []string{"bka", "bkb", "bkc"},
		keys:    []string{"k1", "k2", "d/k3", "d/k4", "d/e/k5", "1/0123456789abcdef0123456789abcdef/artifacts/m/MLmodel"},
		uploads: []string{"u0", "u1", "u2", "u3"},
	}
	for i := range 10 {
		w.chunks = append(w.chunks, chunkOf(fmt.Sprint("small", i), uint32(1+i*7)))
	}
	for i := range 3 {
		w.chunks = append(w.chunks, chunkOf(fmt.Sprint("big", i), MinPartSize))
	}
	for range 12 {
		w.files = append(w.files, w.randomFile())
	}
	return w
}

func (w *workload) pick(xs []string) string { return xs[w.r.IntN(len(xs))] }

// randomFile is 1 to 4 chunks of the pool, repeats allowed.
func (w *workload) randomFile() File {
	n := 1 + w.r.IntN(4)
	refs := make([]cas.Ref, n)
	for i := range refs {
		refs[i] = w.chunks[w.r.IntN(len(w.chunks))]
	}
	return fileOf(refs...)
}

func (w *workload) file() File {
	if w.r.IntN(5) == 0 {
		return w.randomFile()
	}
	return w.files[w.r.IntN(len(w.files))]
}

func (w *workload) next(tb testing.TB) Command {
	b, k := w.pick(w.buckets), w.pick(w.keys)
	switch n := w.r.IntN(100); {
	case n < 6:
		return &CreateBucket{Bucket: b, IfNotExists: w.r.IntN(2) == 0, Time: int64(n)}
	case n < 7:
		return &DeleteBucket{Bucket: b}
	case n < 8:
		return &DeleteBucketAndUploads{Bucket: b}
	case n < 38:
		c := &PutObject{Bucket: b, Key: k, File: w.file(), Meta: ObjectMeta{ETag: fmt.Sprintf(`"%d"`, w.r.IntN(4))}, Time: int64(n)}
		switch w.r.IntN(8) {
		case 0:
			c.Conditions.IfNoneMatch = "*"
		case 1:
			c.Conditions.IfMatch = fmt.Sprintf(`"%d"`, w.r.IntN(4))
		}
		if k[len(k)-1] == 'l' { // MLmodel
			c.Model = &Model{RunID: "0123456789abcdef0123456789abcdef", ModelUUID: fmt.Sprint("uuid", w.r.IntN(3))}
		}
		return c
	case n < 46:
		return &CopyObject{SrcBucket: w.pick(w.buckets), SrcKey: w.pick(w.keys), Bucket: b, Key: k,
			ReplaceMeta: w.r.IntN(2) == 0, Time: int64(n)}
	case n < 56:
		return &DeleteObject{Bucket: b, Key: k}
	case n < 59:
		return &DeletePrefix{Bucket: b, Prefix: w.pick([]string{"", "d/", "d/e/", "k", "1/"}), Limit: w.r.IntN(4)}
	case n < 66:
		return &CreateUpload{UploadID: w.pick(w.uploads), Bucket: b, Key: k, Time: int64(n)}
	case n < 84:
		return &PutPart{UploadID: w.pick(w.uploads), Number: 1 + w.r.IntN(4), File: w.file(), ETag: fmt.Sprintf(`"%d"`, w.r.IntN(3))}
	case n < 94:
		return w.complete(tb, w.pick(w.uploads))
	case n < 97:
		return &AbortUpload{UploadID: w.pick(w.uploads)}
	default:
		return &PutRef{Name: k, Target: b, Time: int64(n)}
	}
}

// complete builds a CompleteUpload the way a proposer does: it reads the
// upload's parts and concatenates their recipes; now and then it lists a
// wrong ETag or a stale digest.
func (w *workload) complete(tb testing.TB, id string) Command {
	u, parts, err := w.s.Upload(id)
	if errors.Is(err, ErrNoSuchUpload) || len(parts) == 0 {
		return &CompleteUpload{UploadID: id, Bucket: w.pick(w.buckets), Key: w.pick(w.keys), File: fileOf(), ETag: `"x"`,
			Parts: []CompletePart{{Number: 1}}}
	}
	if err != nil {
		tb.Fatal(err)
	}
	var cps []CompletePart
	var files []File
	for _, p := range parts {
		if len(cps) > 0 && w.r.IntN(4) == 0 {
			continue // leave a part out
		}
		rec, err := w.s.File(p.Digest)
		if err != nil {
			tb.Fatalf("part file: %v", err)
		}
		cp := CompletePart{Number: p.Number, ETag: p.ETag, Digest: p.Digest}
		switch w.r.IntN(12) {
		case 0:
			cp.ETag = `"wrong"`
		case 1:
			cp.Digest = w.files[0].Digest
		}
		cps = append(cps, cp)
		files = append(files, File{Digest: rec.Digest, Size: rec.Size, Recipe: rec.Recipe})
	}
	return &CompleteUpload{UploadID: id, Bucket: u.Bucket, Key: u.Key, Parts: cps, File: concat(files...),
		ETag: fmt.Sprintf(`"%s-%d"`, id, len(cps)), Time: 99}
}

// everReferenced records the chunks of every file a command that
// succeeded brought in.
func everReferenced(seen map[cas.Digest]bool, c Command, r Result) {
	if r.Err != nil {
		return
	}
	var f File
	switch c := c.(type) {
	case *PutObject:
		f = c.File
	case *PutPart:
		f = c.File
	case *CompleteUpload:
		f = c.File
	}
	for _, ref := range f.Recipe {
		seen[ref.Digest] = true
	}
}

// TestRefcount_Invariant applies random command sequences and then
// recomputes, from the objects and parts it reads back, every file's and
// chunk's reference count, the garbage candidates, the bucket counters
// and the global stats: all must match what the state machine kept.
func TestRefcount_Invariant(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("Seed", seed), func(t *testing.T) {
			h := newTestFSM(t)
			w := newWorkload(seed, h.s)
			seen := map[cas.Digest]bool{}
			files := map[cas.Digest]bool{}
			ok := 0
			applied := map[Op]int{}
			for i := range 400 {
				c := w.next(t)
				r := h.apply(t, c)
				everReferenced(seen, c, r)
				files[filePut(c).Digest] = true
				if r.Err == nil {
					ok++
					applied[c.Op()]++
				}
				if i%50 == 49 {
					checkRefcounts(t, h.s, seen, files)
				}
			}
			checkRefcounts(t, h.s, seen, files)
			t.Logf("%d of 400 commands applied: %v", ok, applied)
			for _, op := range []Op{OpPutObject, OpCopyObject, OpDeleteObject, OpPutPart, OpCompleteUpload, OpAbortUpload, OpDeletePrefix} {
				if applied[op] == 0 {
					t.Fatalf("no %v succeeded: the workload tests too little", op)
				}
			}
		})
	}
}

func filePut(c Command) File {
	switch c := c.(type) {
	case *PutObject:
		return c.File
	case *PutPart:
		return c.File
	case *CompleteUpload:
		return c.File
	}
	return File{}
}

// checkRefcounts recomputes the counters from the objects and parts.
func checkRefcounts(t *testing.T, s *State, seen, files map[cas.Digest]bool) {
	t.Helper()
	var want Stats
	refs := map[cas.Digest]int64{}       // file -> objects and parts
	uses := map[cas.Digest][]ObjectRef{} // file -> objects
	buckets, err := s.Buckets()
	if err != nil {
		t.Fatal(err)
	}
	want.Buckets = int64(len(buckets))
	for _, b := range buckets {
		res, err := s.List(b.Name, ListOptions{Limit: 100000})
		if err != nil || res.Truncated {
			t.Fatalf("list %s: %v", b.Name, err)
		}
		var bytes int64
		for _, o := range res.Objects {
			refs[o.Digest]++
			uses[o.Digest] = append(uses[o.Digest], ObjectRef{o.Bucket, o.Key})
			bytes += o.Size
		}
		if b.Objects != int64(len(res.Objects)) || b.Bytes != bytes {
			t.Fatalf("bucket %s counts %d objects %d bytes, holds %d, %d", b.Name, b.Objects, b.Bytes, len(res.Objects), bytes)
		}
		want.Objects += b.Objects
		want.LogicalBytes += bytes
		ups, err := s.Uploads(b.Name, "")
		if err != nil {
			t.Fatal(err)
		}
		want.Uploads += int64(len(ups))
		for _, u := range ups {
			_, parts, err := s.Upload(u.UploadID)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts {
				refs[p.Digest]++
			}
		}
	}
	chunks := map[cas.Digest]ChunkRef{}
	for d, n := range refs {
		rec, err := s.File(d)
		if err != nil {
			t.Fatalf("file %s used %d times: %v", d.Short(), n, err)
		}
		if rec.Refs != n {
			t.Fatalf("file %s has %d refs, %d objects and parts use it", d.Short(), rec.Refs, n)
		}
		if rec.Size != rec.Recipe.Size() {
			t.Fatalf("file %s: size %d, recipe %d", d.Short(), rec.Size, rec.Recipe.Size())
		}
		want.Files++
		want.FileBytes += rec.Size
		for _, c := range distinctRefs(rec.Recipe) {
			cr := chunks[c.Digest]
			cr.Digest, cr.Size = c.Digest, int64(c.Size)
			cr.Refs++
			chunks[c.Digest] = cr
		}
		got, err := s.FileUses(d, 0)
		if err != nil {
			t.Fatal(err)
		}
		sortRefs(got)
		sortRefs(uses[d])
		if !reflect.DeepEqual(got, uses[d]) && !(len(got) == 0 && len(uses[d]) == 0) {
			t.Fatalf("file %s uses %v, objects %v", d.Short(), got, uses[d])
		}
	}
	for d := range files {
		if refs[d] == 0 {
			if _, err := s.File(d); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unused file %s: %v", d.Short(), err)
			}
		}
	}
	var wantChunks []ChunkRef
	for _, c := range chunks {
		wantChunks = append(wantChunks, c)
		want.Chunks++
		want.ChunkBytes += c.Size
	}
	sort.Slice(wantChunks, func(i, j int) bool {
		return string(wantChunks[i].Digest[:]) < string(wantChunks[j].Digest[:])
	})
	gotChunks, err := s.ChunkRefs(cas.Digest{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotChunks, wantChunks) && !(len(gotChunks) == 0 && len(wantChunks) == 0) {
		t.Fatalf("chunk refs\n got %v\nwant %v", gotChunks, wantChunks)
	}
	// Page by page, as a garbage collector walks them.
	var paged []ChunkRef
	for after := (cas.Digest{}); ; {
		page, err := s.ChunkRefs(after, 3)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].Digest
	}
	if len(paged) != len(gotChunks) || len(paged) > 0 && !reflect.DeepEqual(paged, gotChunks) {
		t.Fatalf("chunk refs by pages of 3 differ: %d, %d", len(paged), len(gotChunks))
	}
	zs, err := s.ZeroChunks(0)
	if err != nil {
		t.Fatal(err)
	}
	gotZero := map[cas.Digest]bool{}
	for _, z := range zs {
		gotZero[z.Digest] = true
		if z.Index == 0 || z.Index > s.Applied() {
			t.Fatalf("zero chunk %s at index %d", z.Digest.Short(), z.Index)
		}
	}
	wantZero := map[cas.Digest]bool{}
	for d := range seen {
		if _, live := chunks[d]; !live {
			wantZero[d] = true
		}
	}
	if !reflect.DeepEqual(gotZero, wantZero) {
		t.Fatalf("zero chunks: got %d, want %d", len(gotZero), len(wantZero))
	}
	if got := mustStats(t, s); got != want {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
}

func sortRefs(rs []ObjectRef) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Bucket != rs[j].Bucket {
			return rs[i].Bucket < rs[j].Bucket
		}
		return rs[i].Key < rs[j].Key
	})
}
