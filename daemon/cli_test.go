package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cairn/client"
	"cairn/client/cli"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/cli")

// cliResult is one in-process run of the command line.
type cliResult struct {
	stdout, stderr string
	code           int
	err            error
}

// runCLI runs one cairn command line in-process against the given
// environment variables.
func runCLI(t testing.TB, env map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := cli.Run(t.Context(), args, cli.Env{Stdout: &out, Stderr: &errb, Version: "test",
		Getenv: func(k string) string { return env[k] }})
	r := cliResult{stdout: out.String(), stderr: errb.String(), err: err}
	var ce *cli.Error
	if errors.As(err, &ce) {
		r.code = ce.ExitCode()
	} else if err != nil {
		t.Fatalf("cli.Run returned %T %v, want *cli.Error", err, err)
	}
	return r
}

// mustCLI runs a command line that must succeed.
func mustCLI(t testing.TB, env map[string]string, args ...string) string {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("cairn %s: exit %d: %v\n%s", strings.Join(args, " "), r.code, r.err, r.stderr)
	}
	return r.stdout
}

// cliEnv is an environment naming the server and nothing else (no config
// file is found).
func cliEnv(endpoints ...string) map[string]string {
	return map[string]string{"CAIRN_ENDPOINT": strings.Join(endpoints, ",")}
}

// volatileRE matches the JSON fields that change from run to run (times,
// Raft indexes and terms) or with the compressor's version (the bytes the
// chunk store takes).
var volatileRE = regexp.MustCompile(`"(mtime|created|first|last|time|version|applied|term|stored_bytes|dedup_ratio|compression_ratio|garbage_bytes)": ("[^"]*"|[-+.eE0-9]+)`)

var addrRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)

// normalizeJSON checks that s is JSON and replaces temporary folders and
// volatile fields, keeping the command's own layout, so that the output
// can be compared with a golden file.
func normalizeJSON(t testing.TB, s string, tmp ...string) string {
	t.Helper()
	if !json.Valid([]byte(s)) {
		t.Fatalf("output is not JSON:\n%s", s)
	}
	for _, d := range tmp {
		s = strings.ReplaceAll(s, d, "<tmp>")
	}
	s = addrRE.ReplaceAllString(s, "<addr>")
	return volatileRE.ReplaceAllString(s, `"$1": "<$1>"`)
}

// golden compares got with testdata/cli/<name>.golden, or rewrites it
// with -update.
func golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name+".golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update to accept):\n%s", name, path, got)
	}
}

const cliRun2 = "fedcba9876543210fedcba9876543210"

// TestCLI_JSONGolden runs every command with --json against a real node
// and compares the normalised output with the golden files.
func TestCLI_JSONGolden(t *testing.T) {
	srv := newClientTestServer(t)
	waitFeatures(t, srv) // cluster status lists the features turned on
	env := cliEnv(srv.URL())
	// The golden files record digests and sizes, so the files come from
	// the test itself, not from the booster data (which a machine without
	// the shared folder trains anew).
	dir, booster := goldenModelDir(t)
	tmp := t.TempDir()
	steps := []struct {
		name string
		args []string
	}{
		{"log-model", []string{"log-model", dir, "--experiment", clientTestExp, "--run", clientTestRun}},
		{"log-model-again", []string{"log-model", "--experiment", clientTestExp, "--run", cliRun2, "--path", "model", dir}},
		{"put-file", []string{"put", booster, "test/boosters/"}},
		{"log-artifact", []string{"log-artifact", dir + "/MLmodel", "test/copy/MLmodel"}},
		{"get-run", []string{"get", "runs:/" + clientTestRun + "/models_mlflow", filepath.Join(tmp, "got")}},
		{"get-again", []string{"get", "runs:/" + clientTestRun + "/models_mlflow", filepath.Join(tmp, "got")}},
		{"ls", []string{"ls", "mlflow/" + clientTestExp + "/"}},
		{"ls-r", []string{"ls", "-r", "mlflow/" + clientTestExp + "/" + clientTestRun + "/"}},
		{"stat", []string{"stat", "runs:/" + clientTestRun + "/models_mlflow/MLmodel"}},
		{"models", []string{"models", "--flavor", "xgboost"}},
		{"runs", []string{"runs"}},
		{"run", []string{"runs", clientTestRun}},
		{"du", []string{"du"}},
		{"verify", []string{"verify", dir, "runs:/" + clientTestRun + "/models_mlflow"}},
		{"resolve", []string{"resolve", "runs:/" + clientTestRun + "/models_mlflow"}},
		{"buckets", []string{"buckets"}},
		{"mb", []string{"mb", "scratch"}},
		{"rb", []string{"rb", "scratch"}},
		{"cluster-status", []string{"cluster", "status"}},
		{"rm-prefix", []string{"rm", "--prefix", "test/copy/"}},
		{"version", []string{"version"}},
	}
	for _, st := range steps {
		out := mustCLI(t, env, append([]string{"--json"}, st.args...)...)
		golden(t, st.name, normalizeJSON(t, out, tmp, dir, filepath.Dir(booster)))
	}
}

// TestCLI_LogModelRoundTrip logs a model folder with log-model and gets it
// back through runs:/: every file is byte-identical.
func TestCLI_LogModelRoundTrip(t *testing.T) {
	srv := newClientTestServer(t)
	env := cliEnv(srv.URL())
	dir := clientModelDir(t)
	mustCLI(t, env, "log-model", dir, "--experiment", clientTestExp, "--run", clientTestRun)
	dest := filepath.Join(t.TempDir(), "model")
	mustCLI(t, env, "get", "runs:/"+clientTestRun+"/models_mlflow", dest)
	clientSameTree(t, clientDigestTree(t, dest), clientDigestTree(t, dir))
	if r := runCLI(t, env, "verify", dest, "runs:/"+clientTestRun+"/models_mlflow"); r.code != 0 {
		t.Fatalf("verify of the copy: exit %d: %v", r.code, r.err)
	}
	// One file, to standard output and into an existing folder.
	want, _ := os.ReadFile(filepath.Join(dir, "MLmodel"))
	if got := mustCLI(t, env, "get", "runs:/"+clientTestRun+"/models_mlflow/MLmodel", "-"); got != string(want) {
		t.Fatalf("get to stdout: %q, want %q", got, want)
	}
	into := t.TempDir()
	mustCLI(t, env, "get", "runs:/"+clientTestRun+"/models_mlflow/MLmodel", into)
	if got, err := os.ReadFile(filepath.Join(into, "MLmodel")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get into a folder: %v", err)
	}
}

func TestCLI_ExitCodes(t *testing.T) {
	srv := newClientTestServer(t)
	env := cliEnv(srv.URL())
	dir := clientModelDir(t)
	mustCLI(t, env, "log-model", dir, "--experiment", clientTestExp, "--run", clientTestRun)
	other := filepath.Join(t.TempDir(), "other")
	os.WriteFile(other, []byte("not the MLmodel"), 0o644)
	outcome := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(client.Error{Code: "OutcomeUnknown", Message: "leadership lost"})
	}))
	defer outcome.Close()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{"Version", env, []string{"version"}, cli.ExitOK, ""},
		{"NoCommand", env, nil, cli.ExitUsage, "no command"},
		{"UnknownCommand", env, []string{"frobnicate"}, cli.ExitUsage, `unknown command "frobnicate"`},
		{"BadFlag", env, []string{"ls", "--bogus"}, cli.ExitUsage, "bogus"},
		{"MissingArgs", env, []string{"put", dir}, cli.ExitUsage, "want"},
		{"BadRunID", env, []string{"log-model", dir, "--experiment", "1", "--run", "nope"}, cli.ExitUsage, "32 lowercase hex"},
		{"GetMissingKey", env, []string{"get", "test/nope", filepath.Join(t.TempDir(), "x")}, cli.ExitNotFound, "test/nope: not found"},
		{"GetMissingRun", env, []string{"get", "runs:/" + cliRun2 + "/model"}, cli.ExitNotFound, "not found"},
		{"GetMissingBucket", env, []string{"get", "nobucket/key", filepath.Join(t.TempDir(), "x")}, cli.ExitNotFound, "not found"},
		{"StatMissing", env, []string{"stat", "test/nope"}, cli.ExitNotFound, "not found"},
		{"RmMissing", env, []string{"rm", "test/nope"}, cli.ExitNotFound, "not found"},
		{"RmMissingForced", env, []string{"rm", "-f", "test/nope"}, cli.ExitOK, ""},
		{"VerifyDiffers", env, []string{"verify", other, "runs:/" + clientTestRun + "/models_mlflow/MLmodel"}, cli.ExitMismatch, "differs"},
		{"PutMissingFile", env, []string{"put", filepath.Join(dir, "nope"), "test/x"}, cli.ExitError, "no such file"},
		{"DeadEndpoint", cliEnv(clientDeadEndpoint(t)), []string{"--retries", "-1", "ls"}, cli.ExitError, "unavailable"},
		{"UnknownOutcome", cliEnv(outcome.URL), []string{"mb", "newbucket"}, cli.ExitUnknownOutcome, "outcome unknown"},
		{"ClusterAddNoKey", cliEnv(newTestServer(t, func(c *Config) { c.Anonymous = "" }).URL()), []string{"cluster", "add", "node2", "127.0.0.1:1"}, cli.ExitError, "Unauthorized"},
		{"ClusterBadVerb", env, []string{"cluster", "grow"}, cli.ExitUsage, "want status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d (%v), want %d", r.code, r.err, tc.code)
			}
			if tc.msg != "" && !strings.Contains(r.err.Error(), tc.msg) {
				t.Fatalf("error %q does not say %q", r.err, tc.msg)
			}
		})
	}
	t.Run("JSONError", func(t *testing.T) {
		r := runCLI(t, env, "--json", "get", "test/nope")
		var je struct {
			Error string `json:"error"`
			Exit  int    `json:"exit_code"`
			Code  string `json:"code"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &je); err != nil || je.Exit != cli.ExitNotFound || je.Code != "NoSuchKey" {
			t.Fatalf("JSON error %q (%v), want exit_code 3 and NoSuchKey", r.stdout, err)
		}
	})
	t.Run("CorruptChunk", func(t *testing.T) {
		key := clientTestExp + "/" + clientTestRun + "/artifacts/models_mlflow/model.xgb"
		c, _ := newCountingClient(t, srv.URL())
		stat, err := c.Stat(t.Context(), "mlflow", key)
		if err != nil {
			t.Fatal(err)
		}
		ps := corruptingProxy(t, srv.URL(), stat.Recipe[1].Digest.String())
		dest := filepath.Join(t.TempDir(), "m.xgb")
		r := runCLI(t, cliEnv(ps.URL), "get", "mlflow/"+key, dest)
		if r.code != cli.ExitMismatch || !strings.Contains(r.err.Error(), stat.Recipe[1].Digest.String()) {
			t.Fatalf("exit %d (%v), want %d naming the chunk", r.code, r.err, cli.ExitMismatch)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("destination exists: %v", err)
		}
	})
}

// TestCLI_PutMissingBucket: put into a bucket that does not exist fails
// before a chunk is sent (or even asked about), saying how to make it.
func TestCLI_PutMissingBucket(t *testing.T) {
	srv := newClientTestServer(t)
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, s3Payload(16, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	for _, args := range [][]string{
		{"put", big, "nobucket/big"},
		{"put", filepath.Dir(big), "nobucket/dir/"},
	} {
		var out, errb bytes.Buffer
		err := cli.Run(t.Context(), args, cli.Env{Stdout: &out, Stderr: &errb, Version: "test",
			Getenv: func(k string) string { return cliEnv(srv.URL())[k] }, HTTPClient: &http.Client{Transport: ct}})
		var ce *cli.Error
		if !errors.As(err, &ce) || ce.ExitCode() != cli.ExitNotFound || !strings.Contains(err.Error(), "bucket nobucket does not exist (cairn mb nobucket") {
			t.Fatalf("cairn %s: %v, want exit %d saying the bucket does not exist", strings.Join(args, " "), err, cli.ExitNotFound)
		}
	}
	if n, m := ct.chunkPuts.Load(), ct.missing.Load(); n != 0 || m != 0 {
		t.Fatalf("sent %d chunks and %d missing-chunk questions for a bucket that does not exist", n, m)
	}
	if st, _ := srv.Store().Stats(t.Context()); st.Chunks != 0 {
		t.Fatalf("the node stored %d chunks", st.Chunks)
	}
}

// TestCLI_Help checks that every command answers --help and help <cmd>
// with its usage and an example, and that cairn help lists them all.
func TestCLI_Help(t *testing.T) {
	env := cliEnv("http://127.0.0.1:1")
	overview := mustCLI(t, env, "help")
	for _, want := range []string{"Exit codes:", "CAIRN_ENDPOINT", "-json"} {
		if !strings.Contains(overview, want) {
			t.Errorf("cairn help does not mention %q", want)
		}
	}
	names := []string{"put", "log-artifact", "log-model", "get", "ls", "stat", "rm", "verify", "models", "runs", "du", "resolve", "buckets", "mb", "rb", "cluster", "version"}
	for _, name := range names {
		if !strings.Contains(overview, " "+name) {
			t.Errorf("cairn help does not list %s", name)
		}
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			out := mustCLI(t, env, args...)
			for _, want := range []string{"Usage: cairn ", "Example:\n  cairn ", "Exit codes"} {
				if !strings.Contains(out, want) {
					t.Errorf("cairn %s: no %q in\n%s", strings.Join(args, " "), want, out)
				}
			}
		}
	}
	if got := mustCLI(t, env, "--help"); got != overview {
		t.Error("cairn --help differs from cairn help")
	}
}

// TestCLI_Failover runs every command with a dead endpoint before the live
// one.
func TestCLI_Failover(t *testing.T) {
	srv := newClientTestServer(t)
	env := cliEnv(clientDeadEndpoint(t), srv.URL())
	dir := clientModelDir(t)
	tmp := t.TempDir()
	run := "runs:/" + clientTestRun + "/models_mlflow"
	for _, args := range [][]string{
		{"log-model", dir, "--experiment", clientTestExp, "--run", clientTestRun},
		{"put", dir + "/MLmodel", "test/x/MLmodel"},
		{"get", run, filepath.Join(tmp, "m")},
		{"get", "test/x/MLmodel", "-"},
		{"ls"}, {"ls", "-r", "mlflow/"}, {"stat", run + "/MLmodel"}, {"verify", dir, run},
		{"models"}, {"runs"}, {"runs", clientTestRun}, {"du"}, {"resolve", run}, {"buckets"},
		{"mb", "scratch"}, {"rb", "scratch"}, {"cluster", "status"}, {"rm", "test/x/MLmodel"},
		{"rm", "--prefix", "mlflow/" + clientTestExp + "/"},
	} {
		mustCLI(t, env, args...)
	}
}

// TestCLI_Config checks the order of precedence: flags, then the
// environment, then the config file.
func TestCLI_Config(t *testing.T) {
	srv := newClientTestServer(t)
	dead := clientDeadEndpoint(t)
	cfgDir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(cfgDir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	good := write("good.yaml", fmt.Sprintf("endpoints:\n  - %s\n", srv.URL()))
	bad := write("cairn/config.yaml", fmt.Sprintf("endpoint: %s\n", dead))
	typo := write("typo.yaml", "endpiont: x\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"File", map[string]string{"CAIRN_CONFIG": good}, nil, 0},
		{"DefaultFile", map[string]string{"XDG_CONFIG_HOME": cfgDir}, []string{"--retries", "-1"}, cli.ExitError},
		{"EnvOverFile", map[string]string{"XDG_CONFIG_HOME": cfgDir, "CAIRN_ENDPOINT": srv.URL()}, nil, 0},
		{"FlagOverEnv", map[string]string{"CAIRN_ENDPOINT": dead}, []string{"--endpoint", srv.URL()}, 0},
		{"FlagAfterCommand", map[string]string{"CAIRN_ENDPOINT": dead}, []string{"--endpoint=" + srv.URL()}, 0},
		{"ConfigFlag", map[string]string{"CAIRN_CONFIG": bad}, []string{"--config", good}, 0},
		{"MissingExplicitConfig", nil, []string{"--config", filepath.Join(cfgDir, "none.yaml")}, cli.ExitError},
		{"UnknownKey", map[string]string{"CAIRN_CONFIG": typo}, nil, cli.ExitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(slices.Clone(tc.args), "buckets")
			if tc.name == "FlagAfterCommand" {
				args = append([]string{"buckets"}, tc.args...)
			}
			if r := runCLI(t, tc.env, args...); r.code != tc.code {
				t.Fatalf("exit %d (%v), want %d", r.code, r.err, tc.code)
			}
		})
	}
}

// goldenModel holds the files of a model folder for the golden tests.
var goldenModel = map[string]string{
	"MLmodel": `artifact_path: model
flavors:
  python_function:
    data: model.xgb
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: 3.11.2
  xgboost:
    code: null
    data: model.xgb
    model_class: xgboost.core.Booster
    model_format: xgb
    xgb_version: 1.7.4
mlflow_version: 2.9.2
model_uuid: 5e0c2b1f9d8a4c6e8f7a6b5c4d3e2f10
run_id: 0123456789abcdef0123456789abcdef
utc_time_created: '2026-11-27 21:43:35.476920'
`,
	"conda.yaml":       "channels:\n- conda-forge\ndependencies:\n- python=3.11.2\n- pip:\n  - mlflow==2.9.2\n  - xgboost==1.7.4\nname: mlflow-env\n",
	"python_env.yaml":  "python: 3.11.2\nbuild_dependencies:\n- pip==23.0.1\ndependencies:\n- -r requirements.txt\n",
	"requirements.txt": "mlflow==2.9.2\nxgboost==1.7.4\n",
}

// goldenModelDir writes the golden model folder, with a 3 MiB model.xgb of
// fixed bytes, and a 1 MiB plus1.ubj beside it in another folder.
func goldenModelDir(t *testing.T) (dir, booster string) {
	t.Helper()
	dir = t.TempDir()
	for name, text := range goldenModel {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "model.xgb"), content("golden model.xgb", 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	booster = filepath.Join(t.TempDir(), "plus1.ubj")
	if err := os.WriteFile(booster, content("golden plus1.ubj", 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, booster
}
