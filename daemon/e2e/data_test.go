//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"cairn/bench/boosters"
)

// seedRunID is the run id in the shared MLmodel file.
const seedRunID = "905eefe8ef2a42b6bf2c56e07eae026d"

// sharedFile returns the path of a file of the shared data folder.
func sharedFile(t testing.TB, parts ...string) string {
	t.Helper()
	d, err := boosters.DataDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{d}, parts...)...)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trainBooster trains a small XGBoost booster with Debian's
// python3-xgboost into dir (trained.json and trained.ubj).
func trainBooster(t testing.TB, dir string) {
	t.Helper()
	Run(t, []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "OMP_NUM_THREADS=1"}, "/usr/bin/python3", testdata(t, "train_booster.py"), dir)
}

// testdata returns the absolute path of a file in testdata.
func testdata(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// modelDir writes the folder mlflow.xgboost.log_model writes for a run:
// its MLmodel (naming the run), the env files, the 3 MiB booster of the
// shared data, plus a booster trained now.
func modelDir(t testing.TB, runID string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt"} {
		b := readFile(t, sharedFile(t, "env", name))
		if name == "MLmodel" {
			b = bytes.ReplaceAll(b, []byte(seedRunID), []byte(runID))
		}
		writeFile(t, filepath.Join(dir, name), string(b))
	}
	writeFile(t, filepath.Join(dir, "model.xgb"), string(readFile(t, sharedFile(t, "boosters", "m", "model.xgb"))))
	trainBooster(t, dir)
	return dir
}

// bigFile returns a file over the 8 MiB multipart threshold of boto3 and
// awscli: two 5 MiB JSON boosters of the shared data, one after the other.
func bigFile(t testing.TB) string {
	t.Helper()
	b := append(readFile(t, sharedFile(t, "boosters", "m", "model.json")), readFile(t, sharedFile(t, "boosters", "m", "plus1.json"))...)
	p := filepath.Join(t.TempDir(), "boosters.json")
	writeFile(t, p, string(b))
	return p
}
