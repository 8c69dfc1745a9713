package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"cairn/daemon"
)

// TestSettings_Names holds every setting to one name in three spellings:
// data_dir, --data-dir, CAIRN_DATA_DIR; none given twice, no secret with a
// default to print.
func TestSettings_Names(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range settings() {
		key := s.Key
		if key == "" {
			key = "config" // the file cannot name itself
		}
		if want := strings.ReplaceAll(key, "_", "-"); s.Flag != want {
			t.Errorf("%s: flag --%s, want --%s", key, s.Flag, want)
		}
		if want := "CAIRN_" + strings.ToUpper(key); s.Env != want {
			t.Errorf("%s: variable %s, want %s", key, s.Env, want)
		}
		if seen[key] {
			t.Errorf("%s given twice", key)
		}
		seen[key] = true
		if s.Secret && s.Default != "" {
			t.Errorf("%s is a secret with a default", key)
		}
		if s.Help == "" || s.value == nil {
			t.Errorf("%s has no help or no value", key)
		}
	}
}

// sample is a valid value of each kind, other than its default.
func sample(s setting) string {
	switch s.Key {
	case "bootstrap":
		return "a=127.0.0.1:1,b=127.0.0.1:2"
	case "s3_keys":
		return "id1:secret1,id2:secret2"
	case "insecure_anonymous":
		return "read"
	case "log_level":
		return "debug"
	}
	switch s.value.kind() {
	case "bool":
		return "true"
	case "duration":
		return "42s"
	case "bytes":
		return "3MiB"
	case "int":
		return "7"
	}
	return "x-" + s.Key
}

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cairn.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// loaded is what load made of args and env, without the sources.
func loaded(t *testing.T, args []string, env map[string]string) *options {
	t.Helper()
	o, err := load(settings(), args, envOf(env))
	if err != nil {
		t.Fatalf("load %q, env %v: %v", args, env, err)
	}
	return o
}

// TestSettings_EveryWay gives each setting as a flag, as a variable and in
// the file, and checks that all three land the same value, and that it
// is not what the setting is without them.
func TestSettings_EveryWay(t *testing.T) {
	none := loaded(t, nil, nil)
	for _, s := range settings() {
		if s.Key == "" {
			continue
		}
		t.Run(s.Key, func(t *testing.T) {
			v := sample(s)
			byFlag := loaded(t, []string{"--" + s.Flag + "=" + v}, nil)
			byEnv := loaded(t, nil, map[string]string{s.Env: v})
			byFile := loaded(t, []string{"--config", writeConfig(t, s.Key+": "+v+"\n")}, nil)
			for _, o := range []*options{byFlag, byEnv, byFile} {
				if o.from[s.Flag] == "" {
					t.Fatalf("%s: no source recorded", s.Key)
				}
				o.from, o.configPath = nil, ""
			}
			none := *none
			none.from = nil
			if !reflect.DeepEqual(byFlag, byEnv) || !reflect.DeepEqual(byFlag, byFile) {
				t.Fatalf("flag, environment and file differ:\n%+v\n%+v\n%+v", byFlag, byEnv, byFile)
			}
			if reflect.DeepEqual(*byFlag, none) {
				t.Fatalf("--%s=%s changed nothing", s.Flag, v)
			}
		})
	}
}

// TestSettings_Precedence: a flag wins over the environment, which wins
// over the file, which wins over the default; a flag or a variable turns
// off what the file turned on.
func TestSettings_Precedence(t *testing.T) {
	file := writeConfig(t, "gc_grace: 5m\nconsistent_reads: true\nmin_free_space: 2GiB\nhttp_addr: 127.0.0.1:9000\nmetrics_open: true\ncompress_when_busy: true\n")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want func(c daemon.Config) bool
	}{
		{"file over default", nil, nil, func(c daemon.Config) bool {
			return c.GCGrace == 5*time.Minute && c.ConsistentReads && c.MinFreeSpace == 2<<30 && c.GCInterval == daemon.DefaultGCInterval &&
				c.CompressWhenBusy
		}},
		{"env over file", nil, map[string]string{"CAIRN_GC_GRACE": "1h30m", "CAIRN_CONSISTENT_READS": "false"}, func(c daemon.Config) bool {
			return c.GCGrace == 90*time.Minute && !c.ConsistentReads && c.MinFreeSpace == 2<<30
		}},
		{"flag over env", []string{"--gc-grace", "2s", "--consistent-reads=false", "--min-free-space", "64 MiB"},
			map[string]string{"CAIRN_GC_GRACE": "1h", "CAIRN_CONSISTENT_READS": "true", "CAIRN_MIN_FREE_SPACE": "1TiB"}, func(c daemon.Config) bool {
				return c.GCGrace == 2*time.Second && !c.ConsistentReads && c.MinFreeSpace == 64<<20
			}},
		{"bare bool flag", []string{"--metrics-open=false", "--consistent-reads"}, map[string]string{"CAIRN_CONSISTENT_READS": "false"}, func(c daemon.Config) bool {
			return c.ConsistentReads && !c.MetricsOpen
		}},
		{"empty variable is not given", nil, map[string]string{"CAIRN_HTTP_ADDR": ""}, func(c daemon.Config) bool {
			return c.HTTPAddr == "127.0.0.1:9000"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := loaded(t, append([]string{"--config", file}, tc.args...), tc.env)
			if !tc.want(o.cfg) {
				t.Fatalf("got %+v", o.cfg)
			}
		})
	}
	t.Run("config from the environment", func(t *testing.T) {
		o := loaded(t, nil, map[string]string{"CAIRN_CONFIG": file})
		if o.cfg.GCGrace != 5*time.Minute || o.from["gc-grace"] != "file" || o.from["config"] != "env" {
			t.Fatalf("grace %v from %q, config from %q", o.cfg.GCGrace, o.from["gc-grace"], o.from["config"])
		}
	})
}

// TestSettings_Defaults: the defaults the table shows and lands are the
// daemon's own, so that --help and the docs tell the truth.
func TestSettings_Defaults(t *testing.T) {
	o := loaded(t, nil, nil)
	got, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	var want daemon.Config
	for _, c := range []*daemon.Config{&got, &want} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		c.Logger, c.Now, c.Dial, c.CAS.Now = nil, nil, nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the table's defaults:\n%+v\nthe daemon's:\n%+v", got, want)
	}
	if got.RaftAddr != "127.0.0.1:8701" {
		t.Fatalf("default cluster address %s, want the HTTP port + 1", got.RaftAddr)
	}
}

// TestSettings_Refused: what cannot be read is refused, saying what was
// wrong and where, without repeating a secret.
func TestSettings_Refused(t *testing.T) {
	cases := []struct {
		name, file string
		args       []string
		env        map[string]string
		want       []string
		never      string
	}{
		{"bare duration flag", "", []string{"--gc-grace", "5"}, nil, []string{"--gc-grace", "needs a unit"}, ""},
		{"bare duration in the file", "gc_interval: 600\n", nil, nil, []string{"gc_interval (line 1)", "needs a unit"}, ""},
		{"bad duration", "", nil, map[string]string{"CAIRN_UPLOAD_EXPIRY": "soon"}, []string{"CAIRN_UPLOAD_EXPIRY", "want a duration"}, ""},
		{"ambiguous size", "", []string{"--max-object-size=5G"}, nil, []string{"--max-object-size", "ambiguous", "GiB"}, ""},
		{"unknown unit", "", []string{"--repair-rate=5 furlongs"}, nil, []string{"--repair-rate", "unknown unit"}, ""},
		{"bad bool", "consistent_reads: maybe\n", nil, nil, []string{"consistent_reads", "true or false"}, ""},
		{"bad int", "", []string{"--max-uploads=lots"}, nil, []string{"--max-uploads", "whole number"}, ""},
		{"bad level", "", []string{"--log-level=loud"}, nil, []string{"--log-level", "debug, info"}, ""},
		{"bad anonymous", "", []string{"--insecure-anonymous=everyone"}, nil, []string{"read or all"}, ""},
		{"unknown key", "gc_intervall: 1h\n", nil, nil, []string{"line 1", `unknown setting "gc_intervall"`}, ""},
		{"flag spelled in the file", "data-dir: /x\n", nil, nil, []string{"did you mean data_dir"}, ""},
		{"key given twice", "gc_grace: 1h\ngc_grace: 2h\n", nil, nil, []string{"line 2", "twice"}, ""},
		{"not a mapping", "- a\n- b\n", nil, nil, []string{"want a mapping"}, ""},
		{"list for a scalar", "data_dir: [a, b]\n", nil, nil, []string{"data_dir", "single value"}, ""},
		{"secret key list", "", []string{"--s3-keys", "ak-only-Sekrit99"}, nil, []string{"--s3-keys", "id:secret"}, "Sekrit99"},
		{"secret in the file", "s3_keys: [{access_key: a, secret_key: Sekrit99, extra: 1}]\n", nil, nil, []string{"s3_keys", "extra"}, "Sekrit99"},
		{"unknown flag", "", []string{"--gc-intervall=1h"}, nil, []string{"unknown flag --gc-intervall"}, ""},
		{"argument", "", []string{"--consistent-reads", "false"}, nil, []string{"--flag=false"}, ""},
		{"missing file", "", []string{"--config", "/nonexistent/cairn.yaml"}, nil, []string{"read config", "/nonexistent/cairn.yaml"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
			}
			_, err := load(settings(), args, envOf(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.never != "" && strings.Contains(err.Error(), tc.never) {
				t.Errorf("error %q repeats the secret", err)
			}
		})
	}
	t.Run("the CLI's file", func(t *testing.T) {
		cli := writeConfig(t, "endpoint: http://127.0.0.1:8700\ntoken: a:b\n")
		_, err := load(settings(), nil, envOf(map[string]string{"CAIRN_CONFIG": cli}))
		if err == nil || !strings.Contains(err.Error(), `unknown setting "endpoint"`) || !strings.Contains(err.Error(), "CLI's configuration") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("half a key", func(t *testing.T) {
		_, err := loaded(t, []string{"--s3-access-key", "AK"}, nil).config()
		if err == nil || !strings.Contains(err.Error(), "s3_secret_key") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestSettings_FileForms reads the file's forms of lists, nulls and an
// empty file.
func TestSettings_FileForms(t *testing.T) {
	o := loaded(t, []string{"--config", writeConfig(t, `
bootstrap: [a=127.0.0.1:1, b=127.0.0.1:2]
s3_keys:
  - {access_key: one, secret_key: "s1"}
  - access_key: two
    secret_key: s2
tls_cert:
max_object_size: 1.5TiB
`)}, nil)
	wantPeers := []daemon.Peer{{ID: "a", RaftAddr: "127.0.0.1:1"}, {ID: "b", RaftAddr: "127.0.0.1:2"}}
	wantKeys := []daemon.S3Key{{AccessKey: "one", SecretKey: "s1"}, {AccessKey: "two", SecretKey: "s2"}}
	if !reflect.DeepEqual(o.cfg.Bootstrap, wantPeers) || !reflect.DeepEqual(o.cfg.S3Keys, wantKeys) {
		t.Fatalf("peers %v, keys %v", o.cfg.Bootstrap, o.cfg.S3Keys)
	}
	if o.from["tls-cert"] != "" || o.cfg.MaxObjectSize != 3<<39 {
		t.Fatalf("tls_cert from %q; max object size %d", o.from["tls-cert"], o.cfg.MaxObjectSize)
	}
	if o := loaded(t, []string{"--config", writeConfig(t, "# nothing yet\n")}, nil); o.cfg.DataDir != daemon.DefaultDataDir {
		t.Fatalf("empty file: data dir %q", o.cfg.DataDir)
	}
}

// TestServeHelp lists every setting with its variable and default, and
// prints no secret, even one the environment holds.
func TestServeHelp(t *testing.T) {
	const secret = "do-not-print-me"
	env := map[string]string{}
	for _, s := range settings() {
		if s.Secret {
			env[s.Env] = secret + ":" + secret
		}
	}
	_, err := load(settings(), []string{"--help"}, envOf(env))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("load --help: %v", err)
	}
	var b strings.Builder
	serveHelp(&b, settings())
	out := b.String()
	for _, s := range settings() {
		line := "--" + s.Flag + " " + s.value.kind() + "\n        env " + s.Env
		if !strings.Contains(out, line) {
			t.Errorf("help lacks %q", line)
		}
		if s.Default != "" && !strings.Contains(out, "default "+s.Default) {
			t.Errorf("help lacks the default of %s", s.Key)
		}
	}
	// And through the command, with the secrets in its environment.
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	r := runCairn(t, envList, "serve", "--help")
	if r.code != 0 || r.stdout != out || strings.Contains(r.stdout+r.stderr, secret) {
		t.Fatalf("exit %d; output differs from serveHelp or shows a secret:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestSettings_Examples: the example configuration in deploy/ and the
// YAML examples of docs/operations.md are files cairn serve reads and
// accepts.
func TestSettings_Examples(t *testing.T) {
	check := func(name, path string) {
		o := loaded(t, []string{"--config", path}, nil)
		cfg, err := o.config()
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil || o.from["data-dir"] != "file" {
			t.Errorf("%s: %v (data_dir from %q)", name, err, o.from["data-dir"])
		}
	}
	check("deploy/cairn.yaml", filepath.Join(repoRoot, "deploy", "cairn.yaml"))
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.Contains(block, "data_dir:") {
			n++
			check(fmt.Sprintf("docs/operations.md, YAML example %d", n), writeConfig(t, block))
		}
	}
	if n == 0 {
		t.Fatal("docs/operations.md has no YAML example with data_dir")
	}
}

func TestParseBytes(t *testing.T) {
	good := map[string]int64{
		"0": 0, "1073741824": 1 << 30, "-1": -1, "1GiB": 1 << 30, "64MiB": 64 << 20, "64 mib": 64 << 20,
		"1.5KiB": 1536, "5TiB": 5 << 40, "500MB": 500e6, "2GB": 2e9, "7B": 7, "1kb": 1000,
	}
	for in, want := range good {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "1G", "1.3B", "1e3", "10 parsecs", "9999999999PiB", "1..2MiB"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
	for _, n := range []int64{1 << 30, 5 << 40, 64 << 20, 64 << 30, 1000, 1536} {
		if got, err := parseBytes(formatBytes(n)); err != nil || got != n {
			t.Errorf("formatBytes(%d) = %q, which reads as %d, %v", n, formatBytes(n), got, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"1h": time.Hour, "90s": 90 * time.Second, "-1s": -time.Second, "1h30m": 90 * time.Minute, "0": 0}
	for in, want := range good {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"5", "-1", "1.5", "", "soon", "1 hour"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
	for _, d := range []time.Duration{10 * time.Minute, time.Hour, 24 * time.Hour, 10 * time.Second, 30 * time.Second, 90 * time.Minute} {
		if got, err := parseDuration(formatDuration(d)); err != nil || got != d {
			t.Errorf("formatDuration(%v) = %q, which reads as %v, %v", d, formatDuration(d), got, err)
		}
	}
}
