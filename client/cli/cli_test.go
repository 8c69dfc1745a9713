package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cairn/client"
)

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		r    bool
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, false},
		{[]string{"-r", "a", "b"}, []string{"a", "b"}, true},
		{[]string{"a", "-r", "b"}, []string{"a", "b"}, true},
		{[]string{"a", "b", "-r"}, []string{"a", "b"}, true},
		{[]string{"a", "--", "-r"}, []string{"a", "-r"}, false},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		r := fs.Bool("r", false, "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *r != tc.r {
			t.Errorf("%q: %q, r=%v, %v; want %q, r=%v", tc.args, pos, *r, err, tc.pos, tc.r)
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitError},
		{usagef("bad"), ExitUsage},
		{fmt.Errorf("get: %w", &client.APIError{Status: 404, Code: "NoSuchKey"}), ExitNotFound},
		{fmt.Errorf("get: %w", client.ErrDigestMismatch), ExitMismatch},
		{errDiffers, ExitMismatch},
		{fmt.Errorf("mb: %w", client.ErrUnknownOutcome), ExitUnknownOutcome},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cairn", "config.yaml")
	os.MkdirAll(filepath.Dir(file), 0o755)
	os.WriteFile(file, []byte("endpoints: [http://file:1, http://file:2]\ntoken: file-token\nparallelism: 3\n"), 0o644)
	for _, tc := range []struct {
		name      string
		env       map[string]string
		flags     globalFlags
		endpoints []string
		token     string
	}{
		{"Default", nil, globalFlags{}, []string{client.DefaultEndpoint}, ""},
		{"File", map[string]string{"CAIRN_CONFIG": file}, globalFlags{}, []string{"http://file:1", "http://file:2"}, "file-token"},
		{"XDG", map[string]string{"XDG_CONFIG_HOME": dir}, globalFlags{}, []string{"http://file:1", "http://file:2"}, "file-token"},
		{"ConfigFlag", map[string]string{"HOME": t.TempDir()}, globalFlags{config: file}, []string{"http://file:1", "http://file:2"}, "file-token"},
		{"Env", map[string]string{"CAIRN_CONFIG": file, "CAIRN_ENDPOINT": "http://env:1, http://env:2", "CAIRN_TOKEN": "env-token"}, globalFlags{}, []string{"http://env:1", "http://env:2"}, "env-token"},
		{"Flags", map[string]string{"CAIRN_CONFIG": file, "CAIRN_ENDPOINT": "http://env:1", "CAIRN_TOKEN": "env-token"}, globalFlags{endpoint: "http://flag:1", token: "flag-token"}, []string{"http://flag:1"}, "flag-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &session{env: Env{Getenv: func(k string) string { return tc.env[k] }}, global: tc.flags}
			if err := s.configure(); err != nil {
				t.Fatal(err)
			}
			if got := s.c.Endpoints(); !slices.Equal(got, tc.endpoints) || s.cfg.Token != tc.token {
				t.Fatalf("endpoints %q, token %q; want %q, %q", got, s.cfg.Token, tc.endpoints, tc.token)
			}
		})
	}
}

func TestProgress_NotATerminal(t *testing.T) {
	var buf bytes.Buffer
	s := &session{env: Env{Stderr: &buf}}
	p, done := s.progress("x")
	done()
	if p != nil || buf.Len() != 0 {
		t.Fatal("a progress bar on a buffer")
	}
}

// TestConfigure_BadFile: a configuration file that does not fit says
// which line and what it wanted, in the file's terms, not Go's.
func TestConfigure_BadFile(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"endpoint: http://x\nparalelism: 3\n", `line 2: unknown key "paralelism"`},
		{"parallelism: many\n", `line 1: "many": want a whole number`},
		{"endpoints: {a: b}\n", "want a list of strings"},
		{"endpoint: [\n", "line 1"},
	} {
		file := filepath.Join(t.TempDir(), "config.yaml")
		os.WriteFile(file, []byte(tc.text), 0o600)
		s := &session{env: Env{Getenv: func(string) string { return "" }}, global: globalFlags{config: file}}
		err := s.configure()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "cli.") ||
			strings.Contains(err.Error(), " into ") {
			t.Errorf("%q: err = %v, want one saying %q", tc.text, err, tc.want)
		}
	}
}
