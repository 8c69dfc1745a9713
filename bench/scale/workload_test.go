package scale

import (
	"bytes"
	"strings"
	"testing"
)

// TestNamespace_Object checks the layout the scale phase fills: five
// files a run under <exp>/<run_id>/artifacts/model/, experiments of
// runsPerExp runs, an MLmodel that names its own run, and the same bytes
// for the other four files of every run.
func TestNamespace_Object(t *testing.T) {
	ns, err := newNamespace(3)
	if err != nil {
		t.Skipf("no shared data: %v", err)
	}
	seen := map[string]bool{}
	for i := range 5 * 7 {
		key, body := ns.object(i)
		r := i / filesPerRun
		want := ns.runPrefix(r) + fileNames[i%filesPerRun]
		if key != want || seen[key] {
			t.Fatalf("object %d: key %q, want %q once", i, key, want)
		}
		seen[key] = true
		if !strings.HasPrefix(key, []string{"1/", "1/", "1/", "2/", "2/", "2/", "3/"}[r]) {
			t.Fatalf("run %d in %q, want experiment %d", r, key, 1+r/3)
		}
		switch name := fileNames[i%filesPerRun]; name {
		case "MLmodel":
			if !bytes.Contains(body, []byte("run_id: "+runID(r)+"\n")) {
				t.Fatalf("run %d's MLmodel does not name it:\n%s", r, body)
			}
		default:
			if _, first := ns.object(i % filesPerRun); !bytes.Equal(body, first) || len(body) == 0 {
				t.Fatalf("%s of run %d differs from run 0's", name, r)
			}
		}
	}
	if len(runID(1)) != 32 || runID(1) == runID(2) {
		t.Fatalf("run ids %q, %q", runID(1), runID(2))
	}
}
