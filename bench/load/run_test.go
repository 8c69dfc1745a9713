package load

import (
	"bytes"
	"strings"
	"testing"
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
	var md bytes.Buffer
	rep.Markdown(&md)
	if !strings.Contains(md.String(), "| cairn-client |") || !strings.Contains(md.String(), "Ratios to dir") {
		t.Fatalf("report:\n%s", md.String())
	}
}
