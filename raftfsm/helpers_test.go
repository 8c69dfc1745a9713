package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"cairn/cas"
	"cairn/cas/chunk"

	"github.com/hashicorp/raft"
)

// testFSM drives an fsm without Raft: each command becomes the next log
// entry and goes through ApplyBatch, as Raft would hand it over.
type testFSM struct {
	dir  string
	f    *fsm
	s    *State
	term uint64
	log  []*raft.Log // every entry fed so far, for replays
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newTestFSM opens an fsm in a temporary folder; it is closed when the
// test ends.
func newTestFSM(tb testing.TB) *testFSM {
	tb.Helper()
	return openTestFSM(tb, tb.TempDir())
}

func openTestFSM(tb testing.TB, dir string) *testFSM {
	tb.Helper()
	f, err := openFSM(dir, testLogger(tb))
	if err != nil {
		tb.Fatalf("open fsm: %v", err)
	}
	tb.Cleanup(func() { f.close() })
	return &testFSM{dir: dir, f: f, s: &State{f: f}, term: 1}
}

// reopen closes the fsm and opens its folder again.
func (h *testFSM) reopen(tb testing.TB) {
	tb.Helper()
	if err := h.f.close(); err != nil {
		tb.Fatalf("close fsm: %v", err)
	}
	f, err := openFSM(h.dir, testLogger(tb))
	if err != nil {
		tb.Fatalf("reopen fsm: %v", err)
	}
	tb.Cleanup(func() { f.close() })
	h.f, h.s = f, &State{f: f}
}

// entry encodes c as the log entry at index.
func entry(tb testing.TB, index, term uint64, c Command) *raft.Log {
	tb.Helper()
	b, err := Encode(c)
	if err != nil {
		tb.Fatalf("encode %v: %v", c.Op(), err)
	}
	return &raft.Log{Type: raft.LogCommand, Index: index, Term: term, Data: b}
}

// next returns the index the next entry gets.
func (h *testFSM) next() uint64 { return uint64(len(h.log)) + 1 }

// feed applies entries in one batch and returns their results; a storage
// failure fails the test.
func (h *testFSM) feed(tb testing.TB, logs ...*raft.Log) []Result {
	tb.Helper()
	out := make([]Result, 0, len(logs))
	for i, r := range h.f.ApplyBatch(logs) {
		res, ok := r.(Result)
		if !ok {
			tb.Fatalf("entry %d: response %T", logs[i].Index, r)
		}
		if res.Err != nil && errors.Is(res.Err, ErrFailed) {
			tb.Fatalf("entry %d: %v", logs[i].Index, res.Err)
		}
		if res.Index != logs[i].Index {
			tb.Fatalf("entry %d: result for index %d", logs[i].Index, res.Index)
		}
		out = append(out, res)
	}
	return out
}

// apply appends c to the log and applies it alone.
func (h *testFSM) apply(tb testing.TB, c Command) Result {
	tb.Helper()
	l := entry(tb, h.next(), h.term, c)
	h.log = append(h.log, l)
	return h.feed(tb, l)[0]
}

// ok applies c and fails the test when it is rejected.
func (h *testFSM) ok(tb testing.TB, c Command) Result {
	tb.Helper()
	r := h.apply(tb, c)
	if r.Err != nil {
		tb.Fatalf("%v rejected: %v", c.Op(), r.Err)
	}
	return r
}

// reject applies c, checks that it is rejected with want and that it
// changed nothing but the applied index.
func (h *testFSM) reject(tb testing.TB, c Command, want error) Result {
	tb.Helper()
	before := h.dump(tb)
	r := h.apply(tb, c)
	if !errors.Is(r.Err, want) {
		tb.Fatalf("%v: got %v, want %v", c.Op(), r.Err, want)
	}
	if Code(r.Err) == "" {
		tb.Fatalf("%v: rejection %v has no code", c.Op(), r.Err)
	}
	if after := h.dump(tb); after != before {
		tb.Fatalf("rejected %v changed the state:\n%s", c.Op(), diffDump(before, after))
	}
	if got := h.s.Applied(); got != r.Index {
		tb.Fatalf("applied %d after rejected entry %d", got, r.Index)
	}
	return r
}

func (h *testFSM) dump(tb testing.TB) string { return dumpState(tb, h.s) }

func dumpState(tb testing.TB, s *State) string {
	tb.Helper()
	var b bytes.Buffer
	if err := s.Dump(&b); err != nil {
		tb.Fatalf("dump: %v", err)
	}
	return b.String()
}

// diffDump shows the lines that differ between two dumps.
func diffDump(a, b string) string {
	la, lb := bytes.Split([]byte(a), []byte("\n")), bytes.Split([]byte(b), []byte("\n"))
	in := func(ls [][]byte) map[string]bool {
		m := map[string]bool{}
		for _, l := range ls {
			m[string(l)] = true
		}
		return m
	}
	ma, mb := in(la), in(lb)
	var out bytes.Buffer
	for _, l := range la {
		if !mb[string(l)] {
			fmt.Fprintf(&out, "- %.300s\n", l)
		}
	}
	for _, l := range lb {
		if !ma[string(l)] {
			fmt.Fprintf(&out, "+ %.300s\n", l)
		}
	}
	return out.String()
}

// chunkOf names a chunk of the given size by a label.
func chunkOf(label string, size uint32) cas.Ref {
	return cas.Ref{Digest: chunk.Sum([]byte("chunk:" + label)), Size: size}
}

// fileOf builds a file from chunks; its digest is derived from the
// chunks, as the whole-content hash would be.
func fileOf(refs ...cas.Ref) File {
	h := chunk.NewHasher()
	var size int64
	for _, r := range refs {
		h.Write(r.Digest[:])
		fmt.Fprintf(h, "/%d;", r.Size)
		size += int64(r.Size)
	}
	return File{Digest: h.Digest(), Size: size, Recipe: append(cas.Recipe(nil), refs...)}
}

// smallFile is a one-chunk file with the given content.
func smallFile(content string) File {
	return fileOf(cas.Ref{Digest: chunk.Sum([]byte(content)), Size: uint32(len(content))})
}

// concat is the file a completed upload of parts holds: their recipes one
// after the other.
func concat(parts ...File) File {
	var refs []cas.Ref
	for _, p := range parts {
		refs = append(refs, p.Recipe...)
	}
	return fileOf(refs...)
}

func u64(v uint64) *uint64 { return &v }

// mustObject reads an object and fails the test when it is absent.
func mustObject(tb testing.TB, s *State, bucket, key string) Object {
	tb.Helper()
	o, _, err := s.Object(bucket, key)
	if err != nil {
		tb.Fatalf("object %s/%s: %v", bucket, key, err)
	}
	return o
}

func fileRefs(tb testing.TB, s *State, d cas.Digest) int64 {
	tb.Helper()
	rec, err := s.File(d)
	if errors.Is(err, ErrNotFound) {
		return 0
	}
	if err != nil {
		tb.Fatalf("file %s: %v", d.Short(), err)
	}
	return rec.Refs
}

func mustStats(tb testing.TB, s *State) Stats {
	tb.Helper()
	st, err := s.Stats()
	if err != nil {
		tb.Fatalf("stats: %v", err)
	}
	return st
}
