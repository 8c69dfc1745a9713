package cas

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"cairn/bench/boosters"
)

// readBooster returns a real XGBoost booster: model, a byte-identical
// retrain (same), one more boosting round (plus1), another seed (seed2)
// and 1% of the rows changed (data2), each saved as JSON, UBJ and the
// legacy binary.
func readBooster(t testing.TB, size, variant, ext string) []byte {
	t.Helper()
	b, err := boosters.Read(size, variant, ext)
	if err != nil {
		t.Fatalf("read booster: %v", err)
	}
	return b
}

// TestStore_Boosters stores each booster after its base model, then
// compacts it, and reports how much each retrain adds and what it takes
// as Put wrote it (S2) and at rest (zstd frames). Run with -v to print
// the table kept in docs/benchmarks.md.
func TestStore_Boosters(t *testing.T) {
	var report strings.Builder
	report.WriteString("| size | format | file | bytes | stored (S2) | at rest (zstd) | ratio at rest | new bytes vs model | bytes shared with model |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, size := range []string{"s", "m"} {
		for _, ext := range []string{"json", "ubj", "xgb"} {
			s := testStore(t, t.TempDir(), Options{NoCompactor: true})
			for _, v := range []string{"model", "same", "plus1", "data2", "seed2"} {
				data := readBooster(t, size, v, ext)
				before, _ := s.Stats(t.Context())
				res := mustPut(t, s, data)
				put, _ := s.Stats(t.Context())
				if _, err := s.Compact(t.Context()); err != nil {
					t.Fatal(err)
				}
				if got := readAll(t, s, res.Recipe); !bytes.Equal(got, data) {
					t.Fatalf("%s/%s.%s does not round-trip", size, v, ext)
				}
				after, _ := s.Stats(t.Context())
				shared := 1 - float64(res.NewBytes)/float64(len(data))
				ratio := float64(res.NewBytes) / float64(max(1, after.StoredBytes-before.StoredBytes))
				fmt.Fprintf(&report, "| %s | %s | %s | %d | %d | %d | %.2fx | %d | %.1f%% |\n",
					size, ext, v, len(data), put.StoredBytes-before.StoredBytes, after.StoredBytes-before.StoredBytes, ratio, res.NewBytes, 100*shared)
				switch v {
				case "same":
					if res.NewBytes != 0 {
						t.Errorf("%s/same.%s added %d bytes; it is identical to model", size, ext, res.NewBytes)
					}
				case "plus1":
					// Measured 95-97% for the 5 MiB boosters at 128 KiB chunks.
					if size == "m" && shared < 0.90 {
						t.Errorf("m/plus1.%s shares %.1f%% with model, want at least 90%%", ext, 100*shared)
					}
				case "model":
					if ratio < 2 {
						t.Errorf("%s/model.%s compressed only %.2fx at rest", size, ext, ratio)
					}
				}
			}
		}
	}
	t.Log("\n" + report.String())
}
