// Package boosters finds the real XGBoost boosters that cairn's tests and
// benchmarks use, and generates larger ones on demand.
//
// # Sources
//
// The small (s, about 100 KiB) and medium (m, about 5 MiB) boosters, with
// their retrained variants, live in the shared data folder beside the
// repository (../shared/data, or $CAIRN_TESTDATA). Large (l, about 50 MiB as
// JSON) and extra-large (xl, about 300 MiB) boosters are trained on first use
// by the shared gen_boosters.py with Debian's python3-xgboost, run with
// /usr/bin/python3, and kept in a cache folder ($CAIRN_BOOSTER_CACHE, or
// the user cache folder) so later runs reuse them. Nothing is downloaded.
package boosters

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// Variants are the booster files each size folder holds: the base model,
// a byte-identical retrain, one more boosting round, another seed, and 1%
// of the rows replaced.
var Variants = []string{"model", "same", "plus1", "seed2", "data2"}

// Formats are the three ways each booster is saved.
var Formats = []string{"json", "ubj", "xgb"}

// DataDir returns the shared data folder: $CAIRN_TESTDATA, or the first
// shared/data found walking up from the working directory.
func DataDir() (string, error) {
	if d := os.Getenv("CAIRN_TESTDATA"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, c := range []string{filepath.Join(dir, "shared", "data"), filepath.Join(dir, "..", "shared", "data")} {
			if st, err := os.Stat(filepath.Join(c, "boosters")); err == nil && st.IsDir() {
				return filepath.Clean(c), nil
			}
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("boosters: shared/data not found; set CAIRN_TESTDATA")
		}
	}
}

// EnvDir returns the folder with the MLmodel and env files MLflow writes
// beside an xgboost model.
func EnvDir() (string, error) {
	d, err := DataDir()
	return filepath.Join(d, "env"), err
}

var genMu sync.Mutex

// Path returns the path of a booster file, such as Path("m", "plus1",
// "json"). Sizes l and xl are generated on first use, which takes from half
// a minute to several minutes.
func Path(size, variant, format string) (string, error) {
	d, err := DataDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, "boosters", size, variant+"."+format)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	p = filepath.Join(cache, size, variant+"."+format)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	genMu.Lock()
	defer genMu.Unlock()
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := generate(d, cache, size, variant != "model"); err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("boosters: %s not generated: %w", p, err)
	}
	return p, nil
}

func cacheDir() (string, error) {
	if d := os.Getenv("CAIRN_BOOSTER_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "cairn", "boosters"), nil
}

// generate trains boosters of one size into cache, writing to a temporary
// folder first so that an interrupted run leaves nothing half-written.
func generate(dataDir, cache, size string, variants bool) error {
	if runtime.GOOS != "linux" {
		return errors.New("boosters: generating boosters needs Debian's python3-xgboost")
	}
	script := filepath.Join(dataDir, "gen_boosters.py")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(cache, ".gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := []string{script, tmp, "--sizes", size}
	if variants {
		args = append(args, "--variants", "--variant-sizes", size)
	}
	cmd := exec.Command("/usr/bin/python3", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("boosters: generate %s (needs apt-get install python3-xgboost): %v\n%s", size, err, out)
	}
	dst := filepath.Join(cache, size)
	os.RemoveAll(dst)
	return os.Rename(filepath.Join(tmp, size), dst)
}

// Read returns the content of a booster file.
func Read(size, variant, format string) ([]byte, error) {
	p, err := Path(size, variant, format)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// Concat returns the first n bytes of the given booster files, one after
// the other, for benchmarks that need a given amount of real booster data
// that does not repeat itself.
func Concat(n int, files ...[3]string) ([]byte, error) {
	out := make([]byte, 0, n)
	for _, f := range files {
		b, err := Read(f[0], f[1], f[2])
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		if len(out) >= n {
			return out[:n], nil
		}
	}
	return nil, fmt.Errorf("boosters: the files hold %d bytes, fewer than %d", len(out), n)
}
