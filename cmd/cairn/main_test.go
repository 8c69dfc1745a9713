package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runMainEnv, set in a child's environment, makes the test binary run
// main() with its arguments instead of the tests: the real command, with
// its real exit code, without a separate build.
const runMainEnv = "CAIRN_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Unsetenv(runMainEnv)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// result is one run of the cairn command.
type result struct {
	stdout, stderr string
	code           int
}

// runCairn runs the cairn command (main) in a child process with args and
// env (added to a clean environment) and waits for it.
func runCairn(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append([]string{runMainEnv + "=1", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run cairn %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// TestMain_HelpAndVersion runs the ways a user asks for help or the
// version: each exits 0 and prints on standard output.
func TestMain_HelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--help"}, "--raft-addr host:port"},
		{[]string{"serve", "-h"}, "--raft-addr host:port"},
		{[]string{"help", "serve"}, "--raft-addr host:port"},
		{[]string{"--version"}, "cairn dev"},
		{[]string{"version"}, "cairn dev"},
		{[]string{"--help"}, "serve"},
		{[]string{"help"}, "serve"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCairn(t, nil, tc.args...)
			if r.code != 0 || !strings.Contains(r.stdout, tc.want) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0 and %q on stdout", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}

// TestServe_PortTaken: a port that is taken stops cairn serve with a
// message naming the setting that chooses it.
func TestServe_PortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	t.Run("cluster port, the HTTP port + 1", func(t *testing.T) {
		// The cluster port is opened first, so the HTTP port below it
		// need not be free.
		r := runCairn(t, nil, "serve", "--data-dir", t.TempDir(), "--http-addr", fmt.Sprintf("127.0.0.1:%d", port-1))
		if r.code != 1 || !strings.Contains(r.stderr, "--raft-addr (CAIRN_RAFT_ADDR, or raft_addr") ||
			!strings.Contains(r.stderr, "HTTP port + 1") || !strings.Contains(r.stderr, taken.Addr().String()) {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
	t.Run("CAIRN_TOKEN warned of", func(t *testing.T) {
		// The CLI's variable for an access key is also serve's legacy
		// admin token: a shell set up for the CLI would make that key
		// an admin token.
		r := runCairn(t, []string{"CAIRN_TOKEN=CKREADKEY:read-key-secret"}, "serve", "--data-dir", t.TempDir(),
			"--http-addr", taken.Addr().String(), "--raft-addr", "127.0.0.1:0")
		if r.code != 1 || !strings.Contains(r.stderr, "CAIRN_TOKEN is set") || strings.Contains(r.stderr, "read-key-secret") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
	t.Run("HTTP port", func(t *testing.T) {
		r := runCairn(t, nil, "serve", "--data-dir", t.TempDir(), "--http-addr", taken.Addr().String(), "--raft-addr", "127.0.0.1:0")
		if r.code != 1 || !strings.Contains(r.stderr, "--http-addr (CAIRN_HTTP_ADDR, or http_addr") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
}
