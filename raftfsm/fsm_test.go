package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

// recordLog runs a random workload of n commands on a fresh fsm, with a
// configuration entry now and then as Raft interleaves them, and returns
// the log, the results and the final dump.
func recordLog(t *testing.T, seed uint64, n int) ([]*raft.Log, []Result, string) {
	t.Helper()
	h := newTestFSM(t)
	w := newWorkload(seed, h.s)
	var results []Result
	for i := range n {
		if i%37 == 5 {
			l := &raft.Log{Type: raft.LogConfiguration, Index: h.next(), Term: h.term, Data: []byte("conf")}
			h.log = append(h.log, l)
			results = append(results, h.feed(t, l)...)
			h.term++ // a new leader after the configuration change
			continue
		}
		results = append(results, h.apply(t, w.next(t)))
	}
	return h.log, results, h.dump(t)
}

// feedBatches feeds logs to h in batches of size n (0: one batch).
func feedBatches(t *testing.T, h *testFSM, logs []*raft.Log, n int) []Result {
	t.Helper()
	if n == 0 {
		n = len(logs)
	}
	var out []Result
	for chunk := range slices.Chunk(logs, n) {
		out = append(out, h.feed(t, chunk...)...)
	}
	return out
}

func sameResults(t *testing.T, got, want []Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if fmt.Sprint(g.Err) != fmt.Sprint(w.Err) {
			t.Fatalf("entry %d: error %v, want %v", w.Index, g.Err, w.Err)
		}
		g.Err, w.Err = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("entry %d: result %+v, want %+v", w.Index, g, w)
		}
	}
}

// TestFSM_Deterministic proves that the state depends on the log only:
// fsms fed the same log in batches of any size dump the same bytes and
// return the same results, and entries fed again are skipped.
func TestFSM_Deterministic(t *testing.T) {
	logs, results, want := recordLog(t, 7, 300)
	last := logs[len(logs)-1]
	for _, size := range []int{1, 7, 0} {
		t.Run(fmt.Sprint("Batch", size), func(t *testing.T) {
			h := newTestFSM(t)
			sameResults(t, feedBatches(t, h, logs, size), results)
			if got := h.dump(t); got != want {
				t.Fatalf("state differs:\n%s", diffDump(want, got))
			}
			if i, term := h.f.Applied(); i != last.Index || term != last.Term {
				t.Fatalf("applied %d/%d, want %d/%d", i, term, last.Index, last.Term)
			}
			// Feeding the whole log again changes nothing: every entry is
			// at or below the applied index and is skipped.
			for i, r := range feedBatches(t, h, logs, 0) {
				if !reflect.DeepEqual(r, Result{Index: logs[i].Index}) {
					t.Fatalf("replayed entry %d gave %+v", logs[i].Index, r)
				}
			}
			if got := h.dump(t); got != want {
				t.Fatalf("replay changed the state:\n%s", diffDump(want, got))
			}
		})
	}
	t.Run("OverlappingBatches", func(t *testing.T) {
		// A batch that starts below the applied index (Raft replaying
		// after a restart) applies only what is new.
		h := newTestFSM(t)
		half := len(logs) / 2
		feedBatches(t, h, logs[:half], 5)
		rs := h.feed(t, logs[half/2:]...)
		sameResults(t, rs[half-half/2:], results[half:])
		if got := h.dump(t); got != want {
			t.Fatalf("state differs:\n%s", diffDump(want, got))
		}
	})
}

// TestFSM_Restart proves that the state and its applied index survive a
// close and reopen, and that Raft's replay of entries the state already
// holds changes nothing.
func TestFSM_Restart(t *testing.T) {
	h := newTestFSM(t)
	w := newWorkload(11, h.s)
	for range 150 {
		h.apply(t, w.next(t))
	}
	want := h.dump(t)
	n := uint64(len(h.log))
	h.reopen(t)
	if got := h.s.Applied(); got != n {
		t.Fatalf("applied %d after restart, want %d", got, n)
	}
	if got := h.dump(t); got != want {
		t.Fatalf("state changed across restart:\n%s", diffDump(want, got))
	}
	for _, r := range feedBatches(t, h, h.log, 16) {
		if r.Err != nil || r.Object != nil {
			t.Fatalf("replayed entry %d was applied: %+v", r.Index, r)
		}
	}
	if got := h.dump(t); got != want {
		t.Fatalf("replay after restart changed the state:\n%s", diffDump(want, got))
	}
	// And it carries on from there.
	h.ok(t, &CreateBucket{Bucket: "after-restart"})
	h.reopen(t)
	if _, err := h.s.Bucket("after-restart"); err != nil || h.s.Applied() != n+1 {
		t.Fatalf("after second restart: applied %d, %v", h.s.Applied(), err)
	}
}

// bufSink is a raft.SnapshotSink over a buffer. Before its first write it
// waits for gate, when set, so that a test can hold Persist midway.
type bufSink struct {
	bytes.Buffer
	gate      chan struct{}
	writing   chan struct{} // closed at the first write
	closed    bool
	cancelled bool
}

func (s *bufSink) Write(p []byte) (int, error) {
	if s.gate != nil {
		if s.writing != nil {
			close(s.writing)
			s.writing = nil
		}
		<-s.gate
	}
	return s.Buffer.Write(p)
}
func (s *bufSink) Close() error  { s.closed = true; return nil }
func (s *bufSink) ID() string    { return "test" }
func (s *bufSink) Cancel() error { s.cancelled = true; return nil }

var _ raft.SnapshotSink = (*bufSink)(nil)

// snapshotOf persists a snapshot of h into a buffer.
func snapshotOf(t testing.TB, h *testFSM) []byte {
	t.Helper()
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v cancelled %v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

func restore(h *testFSM, b []byte) error {
	return h.f.Restore(nopCloser{bytes.NewReader(b)})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// stateFolders lists the state folders of an fsm's folder.
func stateFolders(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestFSM_Snapshot checks snapshots in both formats: plain (format 1),
// and zstd (format 2), which a state writes once FeatureZstdSnapshot is on.
func TestFSM_Snapshot(t *testing.T) {
	var sizes [3]int
	for _, format := range []byte{snapPlain, snapZstd} {
		t.Run(fmt.Sprint("Format", format), func(t *testing.T) { sizes[format] = testFSMSnapshot(t, format) })
	}
	// The same state, but for the feature's key, in both: the workload's
	// keys repeat their prefixes, which format 2 compresses.
	if sizes[snapZstd] == 0 || sizes[snapZstd] >= sizes[snapPlain]/2 {
		t.Errorf("format 2 stream of %d bytes, format 1 of %d", sizes[snapZstd], sizes[snapPlain])
	}
}

func testFSMSnapshot(t *testing.T, format byte) (size int) {
	src := newTestFSM(t)
	w := newWorkload(5, src.s)
	for range 200 {
		src.apply(t, w.next(t))
	}
	if format == snapZstd {
		src.ok(t, &EnableFeature{Name: FeatureZstdSnapshot})
	}
	src.term = 3
	src.ok(t, &PutRef{Name: "last", Target: "x"})
	want := src.dump(t)
	stream := snapshotOf(t, src)
	if got := stream[len(snapMagic)]; got != format {
		t.Fatalf("snapshot of format %d, want %d", got, format)
	}

	t.Run("RoundTrip", func(t *testing.T) {
		dst := newTestFSM(t)
		if err := restore(dst, stream); err != nil {
			t.Fatal(err)
		}
		if got := dst.dump(t); got != want {
			t.Fatalf("restored state differs:\n%s", diffDump(want, got))
		}
		gi, gt := dst.f.Applied()
		wi, wt := src.f.Applied()
		if gi != wi || gt != wt || gt != 3 {
			t.Fatalf("restored applied %d/%d, want %d/%d", gi, gt, wi, wt)
		}
		// A snapshot of the restored state is the same stream.
		if again := snapshotOf(t, dst); !bytes.Equal(again, stream) {
			t.Fatal("snapshot of the restored state differs from the stream it came from")
		}
		// The restored state survives a restart.
		dst.reopen(t)
		if got := dst.dump(t); got != want || dst.s.Applied() != wi {
			t.Fatalf("restored state after restart: applied %d\n%s", dst.s.Applied(), diffDump(want, got))
		}
		if fs := stateFolders(t, dst.dir); len(fs) != 1 {
			t.Fatalf("state folders %v", fs)
		}
	})

	t.Run("ReplacesWholly", func(t *testing.T) {
		dst := newTestFSM(t)
		dst.ok(t, &CreateBucket{Bucket: "only-here"})
		dst.ok(t, &PutObject{Bucket: "only-here", Key: "k", File: smallFile("only here")})
		dst.ok(t, &PutRef{Name: "zzz-only-here", Target: "x"})
		for range 300 {
			dst.ok(t, &PutRef{Name: "bump", Target: "x"}) // an applied index beyond the snapshot's
		}
		if err := restore(dst, stream); err != nil {
			t.Fatal(err)
		}
		if got := dst.dump(t); got != want {
			t.Fatalf("restore kept old state:\n%s", diffDump(want, got))
		}
		if _, err := dst.s.Bucket("only-here"); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("old bucket after restore: %v", err)
		}
		if got, want := dst.s.Applied(), src.s.Applied(); got != want {
			t.Fatalf("applied %d after restore, want the snapshot's %d", got, want)
		}
	})

	t.Run("Corrupt", func(t *testing.T) {
		dst := newTestFSM(t)
		dst.ok(t, &CreateBucket{Bucket: "kept"})
		dst.ok(t, &PutObject{Bucket: "kept", Key: "k", File: smallFile("kept")})
		kept := dst.dump(t)
		applied := dst.s.Applied()
		flip := func(i int) []byte {
			b := bytes.Clone(stream)
			b[i] ^= 0x20
			return b
		}
		cases := map[string][]byte{
			"Empty":         nil,
			"WrongMagic":    flip(0),
			"WrongVersion":  flip(len(snapMagic)),
			"FlipIndex":     flip(len(snapMagic) + 3),
			"FlipMiddle":    flip(len(stream) / 2),
			"FlipDigest":    flip(len(stream) - 1),
			"TruncHeader":   stream[:10],
			"TruncMiddle":   stream[:len(stream)/2],
			"TruncDigest":   stream[:len(stream)-1],
			"TrailingBytes": append(bytes.Clone(stream), 0),
			"HugeLength":    append(bytes.Clone(stream[:len(snapMagic)+17]), 0xff, 0xff, 0xff, 0xff, 0x0f),
		}
		for name, b := range cases {
			t.Run(name, func(t *testing.T) {
				err := restore(dst, b)
				if err == nil {
					t.Fatal("corrupt stream restored")
				}
				if got := dst.dump(t); got != kept {
					t.Fatalf("failed restore changed the state:\n%s", diffDump(kept, got))
				}
				if got := dst.s.Applied(); got != applied {
					t.Fatalf("failed restore moved applied to %d", got)
				}
				if fs := stateFolders(t, dst.dir); len(fs) != 1 {
					t.Fatalf("failed restore left folders %v", fs)
				}
			})
		}
		// The state still takes writes, and a good stream still restores.
		dst.ok(t, &DeleteObject{Bucket: "kept", Key: "k"})
		if err := restore(dst, stream); err != nil {
			t.Fatal(err)
		}
		if got := dst.dump(t); got != want {
			t.Fatalf("restore after failures:\n%s", diffDump(want, got))
		}
	})

	t.Run("ApplyWhilePersisting", func(t *testing.T) {
		h := newTestFSM(t)
		w := newWorkload(9, h.s)
		for range 100 {
			h.apply(t, w.next(t))
		}
		atSnap := h.dump(t)
		index := h.s.Applied()
		snap, err := h.f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		sink := &bufSink{gate: make(chan struct{}), writing: make(chan struct{})}
		writing := sink.writing
		done := make(chan error, 1)
		go func() {
			defer snap.Release()
			done <- snap.Persist(sink)
		}()
		<-writing // Persist is midway, blocked on the sink
		// Applies go on while Persist is held.
		for range 100 {
			h.apply(t, w.next(t))
		}
		after := h.dump(t)
		if after == atSnap {
			t.Fatal("the workload changed nothing after the snapshot")
		}
		close(sink.gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		dst := newTestFSM(t)
		if err := restore(dst, sink.Bytes()); err != nil {
			t.Fatal(err)
		}
		if got := dst.dump(t); got != atSnap {
			t.Fatalf("snapshot does not hold the state at its index:\n%s", diffDump(atSnap, got))
		}
		if got := dst.s.Applied(); got != index {
			t.Fatalf("snapshot at %d restored as %d", index, got)
		}
		// Replaying the rest of the log on the restored state catches up.
		feedBatches(t, dst, h.log, 13)
		if got := dst.dump(t); got != after {
			t.Fatalf("restored state plus the log differs:\n%s", diffDump(after, got))
		}
	})

	t.Run("FailedStateRefusesSnapshot", func(t *testing.T) {
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "bkt"})
		h.f.amu.Lock()
		h.f.failed = fmt.Errorf("%w: test", ErrFailed)
		h.f.amu.Unlock()
		if snap, err := h.f.Snapshot(); err == nil {
			snap.Release()
			t.Fatal("a failed state took a snapshot: Raft would compact entries it never applied")
		}
		l := entry(t, h.next(), 1, &CreateBucket{Bucket: "other"})
		if r := h.f.ApplyBatch([]*raft.Log{l})[0].(Result); !errors.Is(r.Err, ErrFailed) {
			t.Fatalf("apply on a failed state: %+v", r)
		}
	})
	return len(stream)
}
