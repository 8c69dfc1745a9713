package boosters

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Variants are the booster files each size folder holds: the base model,
// a byte-identical retrain, one more boosting round, another seed, and 1%
// of the rows replaced.
var Variants = []string{"model", "same", "plus1", "seed2", "data2"}

// Formats are the three ways each booster is saved.
var Formats = []string{"json", "ubj", "xgb"}

//go:embed gen.py
var genScript []byte

// sharedDir returns the shared data folder, or "" when there is none.
func sharedDir() string {
	if d := os.Getenv("CAIRN_TESTDATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, c := range []string{filepath.Join(dir, "shared", "data"), filepath.Join(dir, "..", "shared", "data")} {
			if st, err := os.Stat(filepath.Join(c, "boosters", "m")); err == nil && st.IsDir() {
				return filepath.Clean(c)
			}
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// DataDir returns a folder laid out like the shared data folder
// (boosters/s, boosters/m, env): the shared one when it exists, else one
// trained into the cache on first use (a minute or so).
func DataDir() (string, error) {
	if d := sharedDir(); d != "" {
		return d, nil
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	if err := ensure(cache, "s,m", true); err != nil {
		return "", err
	}
	return cache, nil
}

// EnvDir returns the folder with the MLmodel and env files MLflow writes
// beside an xgboost model.
func EnvDir() (string, error) {
	d, err := DataDir()
	return filepath.Join(d, "env"), err
}

// Path returns the path of a booster file, such as Path("m", "plus1",
// "json"), training it first when needed.
func Path(size, variant, format string) (string, error) {
	name := filepath.Join("boosters", size, variant+"."+format)
	if d := sharedDir(); d != "" {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name), nil
		}
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	if err := ensure(cache, size, variant != "model"); err != nil {
		return "", err
	}
	p := filepath.Join(cache, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("boosters: %s not trained: %w", p, err)
	}
	return p, nil
}

// Read returns the content of a booster file.
func Read(size, variant, format string) ([]byte, error) {
	p, err := Path(size, variant, format)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func cacheDir() (string, error) {
	if d := os.Getenv("CAIRN_BOOSTER_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "cairn", "data"), nil
}

// ensure trains the given sizes into cache unless they are there. A lock
// file keeps test processes that start together from training twice; each
// size is trained into a temporary folder and renamed into place whole.
func ensure(cache, sizes string, variants bool) error {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	want := "model"
	if variants {
		want = "data2"
	}
	var todo []string
	for _, size := range strings.Split(sizes, ",") {
		if _, err := os.Stat(filepath.Join(cache, "boosters", size, want+".xgb")); err != nil {
			todo = append(todo, size)
		}
	}
	_, envErr := os.Stat(filepath.Join(cache, "env", "MLmodel"))
	if len(todo) == 0 && envErr == nil {
		return nil
	}
	return train(cache, todo, variants)
}

func train(cache string, sizes []string, variants bool) error {
	tmp, err := os.MkdirTemp(cache, ".train-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	script := filepath.Join(tmp, "gen.py")
	if err := os.WriteFile(script, genScript, 0o644); err != nil {
		return err
	}
	args := []string{script, tmp, strings.Join(sizes, ","), "--env"}
	if variants {
		args = append(args, "--variants")
	}
	if out, err := exec.Command("/usr/bin/python3", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("boosters: train %v (needs apt-get install python3-xgboost): %v\n%s", sizes, err, out)
	}
	if _, err := os.Stat(filepath.Join(cache, "env")); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(filepath.Join(tmp, "env"), filepath.Join(cache, "env")); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(cache, "boosters"), 0o755); err != nil {
		return err
	}
	for _, size := range sizes {
		dst := filepath.Join(cache, "boosters", size)
		os.RemoveAll(dst)
		if err := os.Rename(filepath.Join(tmp, "boosters", size), dst); err != nil {
			return err
		}
	}
	return nil
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
