package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is where the Makefile is, from this package's folder.
const repoRoot = "../.."

// runMake runs make in the repository with the variables given; the
// binaries it builds go to a folder of the test's, not to bin/.
func runMake(t *testing.T, build string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	cmd := exec.CommandContext(t.Context(), "make", append([]string{"-C", repoRoot, "BIN=" + build}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestInstall runs make install and make install-service into a fresh
// prefix, runs the installed binary, and has systemd check the units.
func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	prefix, build := t.TempDir(), t.TempDir()
	runMake(t, build, "install-service", "PREFIX="+prefix)
	for _, f := range []string{"bin/cairn", "bin/cairn-bench"} {
		fi, err := os.Stat(filepath.Join(prefix, f))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("%s: %v, mode %v", f, err, fi)
		}
	}
	for _, f := range []string{"lib/systemd/system/cairn.service", "lib/systemd/system/cairn-http.socket",
		"lib/systemd/system/cairn-cluster.socket", "lib/sysusers.d/cairn.conf", "share/cairn/cairn.yaml.example",
		"share/doc/cairn/operations.md", "share/doc/cairn/README.md", "share/doc/cairn/deploy.md"} {
		if _, err := os.Stat(filepath.Join(prefix, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	out, err := exec.Command(filepath.Join(prefix, "bin", "cairn"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "cairn ") {
		t.Fatalf("installed cairn --version: %q, %v", out, err)
	}
	unit := filepath.Join(prefix, "lib", "systemd", "system", "cairn.service")
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ExecStart=" + filepath.Join(prefix, "bin", "cairn") + " serve --config /etc/cairn/cairn.yaml\n"; !strings.Contains(string(b), want) {
		t.Fatalf("the installed unit lacks %q", want)
	}
	if regexp.MustCompile(`@[A-Z]+@`).Match(b) {
		t.Fatalf("the installed unit keeps a placeholder:\n%s", b)
	}
	verifyUnits(t, unit, filepath.Join(filepath.Dir(unit), "cairn-http.socket"), filepath.Join(filepath.Dir(unit), "cairn-cluster.socket"))
}

// verifyUnits has systemd-analyze check the units (any warning fails)
// and rate the service's exposure, when systemd is installed.
func verifyUnits(t *testing.T, units ...string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("no systemd-analyze (Debian package systemd): units not verified")
		return
	}
	cmd := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, stderr.String())
	}
	// The exposure level is 0 (locked down) to 10 (unprotected); the
	// threshold counts tenths.
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", units[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0: %v\n%s", err, out)
	}
}

// TestDist makes the release tarball and checks what it holds: static
// binaries, the units set for /usr/local/bin, the example configuration,
// the README and the docs.
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	dist := t.TempDir()
	runMake(t, t.TempDir(), "dist", "DISTDIR="+dist, "VERSION=v0-test")
	tars, _ := filepath.Glob(filepath.Join(dist, "cairn-v0-test-*.tar.gz"))
	if len(tars) != 1 {
		t.Fatalf("dist made %v", tars)
	}
	base := strings.TrimSuffix(filepath.Base(tars[0]), ".tar.gz")
	files := readTarball(t, tars[0])
	var names []string
	for name := range files {
		names = append(names, strings.TrimPrefix(name, base+"/"))
	}
	slices.Sort(names)
	want := []string{"README.md", "bin/cairn", "bin/cairn-bench", "deploy/README.md", "deploy/cairn-cluster.socket",
		"deploy/cairn-http.socket", "deploy/cairn.service", "deploy/cairn.sysusers", "deploy/cairn.yaml"}
	docs, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	for _, d := range docs {
		want = append(want, "docs/"+filepath.Base(d))
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("the tarball holds\n%v\nwant\n%v", names, want)
	}
	if unit := string(files[base+"/deploy/cairn.service"].body); !strings.Contains(unit, "ExecStart=/usr/local/bin/cairn serve") {
		t.Fatalf("the tarball's unit does not run /usr/local/bin/cairn:\n%s", unit)
	}
	for _, bin := range []string{"bin/cairn", "bin/cairn-bench"} {
		f := files[base+"/"+bin]
		if f.mode.Perm() != 0o755 {
			t.Errorf("%s: mode %v", bin, f.mode)
		}
		exe, err := elf.NewFile(bytes.NewReader(f.body))
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		for _, p := range exe.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is linked dynamically: it would need this machine's libc", bin)
			}
		}
	}
}

type tarFile struct {
	mode os.FileMode
	body []byte
}

// readTarball returns the regular files of a .tar.gz by name.
func readTarball(t *testing.T, path string) map[string]tarFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]tarFile{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = tarFile{mode: h.FileInfo().Mode(), body: body}
	}
}
