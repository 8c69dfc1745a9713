package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cairn/bench/boosters"
)

// Spec describes a workload.
type Spec struct {
	Seed        uint64
	Experiments int
	Runs        int // per experiment
	// Boosters is how many distinct boosters the pool holds; Size is
	// their size class ("s" ~100 KiB, "m" ~5 MiB, "l" ~50 MiB).
	Boosters int
	Size     string
	// Reuse is the fraction of runs that log a booster already logged.
	Reuse float64
	// EnvChangeEvery makes every n-th run change its environment files
	// (0: never).
	EnvChangeEvery int
}

// DefaultSpec is the workload of the published figures: 100 runs of the
// seed's model layout over 10 distinct 5 MiB boosters.
func DefaultSpec() Spec {
	return Spec{Seed: 1, Experiments: 4, Runs: 25, Boosters: 10, Size: "m", Reuse: 0.5, EnvChangeEvery: 20}
}

// QuickSpec is a workload small enough for CI.
func QuickSpec() Spec {
	return Spec{Seed: 1, Experiments: 2, Runs: 6, Boosters: 3, Size: "s", Reuse: 0.5, EnvChangeEvery: 5}
}

// File is one artifact of a run.
type File struct {
	Path string // relative to the run's artifact root
	Data []byte
}

// RunFiles is one MLflow run and its artifacts.
type RunFiles struct {
	ExperimentID string
	RunID        string
	Files        []File
}

// Root returns the run's artifact root in MLflow's layout.
func (r RunFiles) Root() string { return r.ExperimentID + "/" + r.RunID + "/artifacts/" }

// Bytes returns the total size of the run's files.
func (r RunFiles) Bytes() int64 {
	var n int64
	for _, f := range r.Files {
		n += int64(len(f.Data))
	}
	return n
}

// Workload is a generated workload. Boosters are shared between runs (the
// same slice), so memory holds each distinct booster once.
type Workload struct {
	Spec Spec
	Runs []RunFiles
}

// LogicalBytes returns the total size of every run's files.
func (w *Workload) LogicalBytes() int64 {
	var n int64
	for _, r := range w.Runs {
		n += r.Bytes()
	}
	return n
}

// Files returns the number of files.
func (w *Workload) Files() int {
	n := 0
	for _, r := range w.Runs {
		n += len(r.Files)
	}
	return n
}

// Generate builds the workload of a spec.
func Generate(s Spec) (*Workload, error) {
	pool, err := boosterPool(s.Size, s.Boosters)
	if err != nil {
		return nil, err
	}
	env, err := envFiles()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x636169726e))
	w := &Workload{Spec: s}
	logged := 0 // boosters of the pool already logged
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for e := range s.Experiments {
		for range s.Runs {
			runID := hex32(rng)
			var booster []byte
			if logged > 0 && (rng.Float64() < s.Reuse || logged == len(pool)) {
				booster = pool[rng.IntN(logged)]
			} else {
				booster = pool[logged]
				logged++
			}
			created := start.Add(time.Duration(n) * 37 * time.Minute)
			files := []File{
				{Path: "model/MLmodel", Data: mlmodel(runID, hex32(rng), created)},
				{Path: "model/model.xgb", Data: booster},
			}
			version := 0
			if s.EnvChangeEvery > 0 {
				version = n / s.EnvChangeEvery
			}
			for _, name := range []string{"conda.yaml", "python_env.yaml", "requirements.txt"} {
				files = append(files, File{Path: "model/" + name, Data: envVersion(env[name], version)})
			}
			files = append(files,
				File{Path: "plots/loss.png", Data: plot(rng)},
				File{Path: "metrics.json", Data: metrics(rng, runID)})
			w.Runs = append(w.Runs, RunFiles{ExperimentID: fmt.Sprint(e + 1), RunID: runID, Files: files})
			n++
		}
	}
	return w, nil
}

func hex32(rng *rand.Rand) string {
	return fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
}

// boosterPool returns n distinct boosters of a size class: the variants
// that differ (model, plus1 — a retrain that shares most chunks with
// model —, seed2, data2) in each format, generated when the size needs it.
func boosterPool(size string, n int) ([][]byte, error) {
	var pool [][]byte
	for _, variant := range []string{"model", "plus1", "seed2", "data2"} {
		for _, format := range boosters.Formats {
			if len(pool) == n {
				return pool, nil
			}
			b, err := boosters.Read(size, variant, format)
			if err != nil {
				return nil, err
			}
			pool = append(pool, b)
		}
	}
	if len(pool) < n {
		return nil, fmt.Errorf("load: size %s has %d distinct boosters, fewer than %d", size, len(pool), n)
	}
	return pool, nil
}

func envFiles() (map[string][]byte, error) {
	dir, err := boosters.EnvDir()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range []string{"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

// envVersion returns the env file as it is after `version` dependency
// bumps: version 0 is the original, byte for byte.
func envVersion(b []byte, version int) []byte {
	if version == 0 {
		return b
	}
	return bytes.ReplaceAll(b, []byte("cloudpickle==2.2.1"), []byte(fmt.Sprintf("cloudpickle==2.2.%d", 1+version)))
}

func mlmodel(runID, uuid string, created time.Time) []byte {
	return []byte(strings.Join([]string{
		"artifact_path: model",
		"flavors:",
		"  python_function:",
		"    data: model.xgb",
		"    env:",
		"      conda: conda.yaml",
		"      virtualenv: python_env.yaml",
		"    loader_module: mlflow.xgboost",
		"    python_version: 3.11.2",
		"  xgboost:",
		"    code: null",
		"    data: model.xgb",
		"    model_class: xgboost.core.Booster",
		"    model_format: xgb",
		"    xgb_version: 1.7.4",
		"mlflow_version: 2.9.2",
		"model_uuid: " + uuid,
		"run_id: " + runID,
		"utc_time_created: '" + created.Format("2006-01-02 15:04:05.000000") + "'",
		"",
	}, "\n"))
}

// plot draws a small deterministic loss curve as a real PNG.
func plot(rng *rand.Rand) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 160, 100))
	for x := range 160 {
		y := int(90 - 80*float64(x)/160*(0.8+0.4*rng.Float64()))
		img.Set(x, max(0, min(99, y)), color.RGBA{R: 30, G: 90, B: 200, A: 255})
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func metrics(rng *rand.Rand, runID string) []byte {
	m := map[string]any{"run_id": runID, "rmse": 0.3 + 0.2*rng.Float64(), "mae": 0.2 + 0.1*rng.Float64(), "rounds": 240}
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}
