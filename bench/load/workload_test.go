package load

import (
	"bytes"
	"testing"

	"cairn/cas/chunk"
)

func TestGenerate_Deterministic(t *testing.T) {
	a, err := Generate(QuickSpec())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(QuickSpec())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Runs) != 12 || len(b.Runs) != len(a.Runs) {
		t.Fatalf("runs: %d and %d", len(a.Runs), len(b.Runs))
	}
	for i := range a.Runs {
		ra, rb := a.Runs[i], b.Runs[i]
		if ra.RunID != rb.RunID || len(ra.Files) != len(rb.Files) {
			t.Fatalf("run %d differs", i)
		}
		for j := range ra.Files {
			if ra.Files[j].Path != rb.Files[j].Path || chunk.Sum(ra.Files[j].Data) != chunk.Sum(rb.Files[j].Data) {
				t.Fatalf("run %d file %s differs between two generations", i, ra.Files[j].Path)
			}
		}
	}
	other := QuickSpec()
	other.Seed = 2
	c, err := Generate(other)
	if err != nil {
		t.Fatal(err)
	}
	if c.Runs[0].RunID == a.Runs[0].RunID {
		t.Fatal("another seed gave the same run ids")
	}
}

func TestGenerate_Shape(t *testing.T) {
	w, err := Generate(DefaultSpec())
	if err != nil {
		t.Skipf("boosters: %v", err)
	}
	distinct := map[chunk.Digest]int{}
	mlmodels := map[chunk.Digest]bool{}
	envs := map[chunk.Digest]bool{}
	for _, r := range w.Runs {
		for _, f := range r.Files {
			d := chunk.Sum(f.Data)
			switch {
			case bytes.HasSuffix([]byte(f.Path), []byte("model.xgb")):
				distinct[d]++
			case bytes.HasSuffix([]byte(f.Path), []byte("MLmodel")):
				mlmodels[d] = true
			case bytes.HasSuffix([]byte(f.Path), []byte("conda.yaml")):
				envs[d] = true
			}
		}
	}
	if len(w.Runs) != 100 || len(distinct) != 10 || len(mlmodels) != 100 {
		t.Fatalf("%d runs, %d distinct boosters, %d distinct MLmodels; want 100, 10, 100", len(w.Runs), len(distinct), len(mlmodels))
	}
	if len(envs) != 5 {
		t.Fatalf("%d distinct conda.yaml, want 5 (a change every 20 runs)", len(envs))
	}
}
