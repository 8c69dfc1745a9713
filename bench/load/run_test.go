package load

import (
	"bytes"
	"strings"
	"testing"

	"cairn/client/term"
)

// TestRun_Quick runs the quick workload against a one-node cairn and a
// plain folder and checks what the report shows: cairn stores the
// duplicated boosters and env files once, re-logging sends nothing, and
// every byte read back matches.
func TestRun_Quick(t *testing.T) {
	o := QuickOptions()
	o.Rounds, o.Commits, o.Scale, o.WorkDir = 1, 50, nil, t.TempDir()
	rep, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Name != "cairn-client" || rep.Targets[1].Name != "dir" {
		t.Fatalf("targets %+v", rep.Targets)
	}
	cairn, dir := rep.Targets[0], rep.Targets[1]
	for _, tr := range rep.Targets {
		l, d := tr.Log[0], tr.Download[0]
		if l.Errors != 0 || d.Errors != 0 || d.Mismatch != 0 || tr.Commit[0].Errors != 0 {
			t.Fatalf("%s: errors log %d, download %d, mismatches %d, commits %d", tr.Name, l.Errors, d.Errors, d.Mismatch, tr.Commit[0].Errors)
		}
		if l.Bytes != rep.LogicalBytes || l.Files != rep.Files {
			t.Fatalf("%s logged %d bytes in %d files, want %d in %d", tr.Name, l.Bytes, l.Files, rep.LogicalBytes, rep.Files)
		}
	}
	// The quick workload logs 12 runs over 3 distinct boosters: cairn
	// stores each booster and env file once.
	if cairn.Log[0].Dedup <= 1 {
		t.Fatalf("cairn dedup ratio %.2f, want above 1", cairn.Log[0].Dedup)
	}
	if cairn.Log[0].StoredB >= dir.Log[0].StoredB {
		t.Fatalf("cairn stored %d bytes, the folder %d", cairn.Log[0].StoredB, dir.Log[0].StoredB)
	}
	if cairn.Relog[0].Sent != 0 {
		t.Fatalf("re-logging through the client sent %d bytes, want 0", cairn.Relog[0].Sent)
	}
	// The ingest phases: new boosters go over the wire, the same bytes
	// again do not, and cairn's store settles no larger than it was.
	if n, s, g := cairn.New[0], cairn.Same[0], cairn.NewGet[0]; n.Errors+s.Errors+g.Errors+g.Mismatch != 0 || n.Files != 4 || n.Sent == 0 || s.Sent != 0 || g.Bytes != n.Bytes {
		t.Fatalf("ingest phases: new %+v, same %+v, read back %+v", n, s, g)
	}
	if cairn.AtRest[0] <= 0 || cairn.AtRest[0] > cairn.Log[0].StoredB {
		t.Fatalf("stored at rest %d, after logging %d", cairn.AtRest[0], cairn.Log[0].StoredB)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	if !strings.Contains(md.String(), "| cairn-client |") || !strings.Contains(md.String(), "Ratios to dir") {
		t.Fatalf("report:\n%s", md.String())
	}
}

// TestMetered counts every request a phase makes on its bar: a bar grown
// to four requests ends at 100% after two puts, a get and a listing, and
// a phase whose progress is not a terminal gets its target unwrapped.
func TestMetered(t *testing.T) {
	dir, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	b := term.NewBar(&out, "phase", "requests", 0)
	b.Grow(4)
	m := metered{dir, b}
	for _, k := range []string{"r/a", "r/b"} {
		if _, err := m.Put(t.Context(), k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Get(t.Context(), "r/a"); err != nil {
		t.Fatal(err)
	}
	if keys, err := m.List(t.Context(), "r/"); err != nil || len(keys) != 2 {
		t.Fatalf("list: %v, %v", keys, err)
	}
	b.Stop()
	got := out.String()
	if last := got[strings.LastIndex(got, "\r")+1:]; !strings.Contains(last, "100%") {
		t.Fatalf("last drawing %q", last)
	}
	o := Options{Progress: &out}
	if wrapped, done := o.bar("x", "requests", 1, dir); wrapped != dir {
		t.Fatal("a bar on a buffer")
	} else {
		done()
	}
}

// TestDirTargetFreshEachRound starts the folder target twice, as two
// rounds do: the second starts empty, so what the first wrote does not
// count as stored in the second, and stopping removes the folder.
func TestDirTargetFreshEachRound(t *testing.T) {
	o := Options{WorkDir: t.TempDir()}
	first, err := o.startTarget(t.Context(), "dir")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Put(t.Context(), "a/b", bytes.Repeat([]byte("x"), 100<<10)); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := first.Stored(t.Context()); n < 100<<10 {
		t.Fatalf("first round stored %d bytes", n)
	}
	first.stop()
	second, err := o.startTarget(t.Context(), "dir")
	if err != nil {
		t.Fatal(err)
	}
	defer second.stop()
	if n, _, _ := second.Stored(t.Context()); n != 0 {
		t.Fatalf("second round starts with %d bytes", n)
	}
}
