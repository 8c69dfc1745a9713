package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"cairn/client"
)

// errHelp is what a flag set returns for -h and --help.
var errHelp = flag.ErrHelp

// globalFlags are accepted before the command and among its flags.
type globalFlags struct {
	endpoint    string
	token       string
	config      string
	cacert      string
	parallel    int
	retries     int
	json        bool
	noProgress  bool
	configFound string // the config file read, if any
}

// fileConfig is the YAML configuration file.
type fileConfig struct {
	Endpoint    string   `yaml:"endpoint"`
	Endpoints   []string `yaml:"endpoints"`
	Token       string   `yaml:"token"`
	CACert      string   `yaml:"cacert"`
	Parallelism int      `yaml:"parallelism"`
}

// session is one run of the command line.
type session struct {
	env    Env
	global globalFlags
	cfg    client.Config
	c      *client.Client
}

func (s *session) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g := &s.global
	fs.StringVar(&g.endpoint, "endpoint", g.endpoint, "comma-separated `URLs` of cluster nodes (env CAIRN_ENDPOINT)")
	fs.StringVar(&g.token, "token", g.token, "access key as `id:secret` (env CAIRN_TOKEN)")
	fs.StringVar(&g.config, "config", g.config, "YAML config `file` (env CAIRN_CONFIG; default $XDG_CONFIG_HOME/cairn/config.yaml)")
	fs.StringVar(&g.cacert, "cacert", g.cacert, "PEM `file` of CAs to trust for https endpoints (env CAIRN_CACERT)")
	fs.IntVar(&g.parallel, "parallel", g.parallel, "chunk transfers in flight (default 8)")
	fs.IntVar(&g.retries, "retries", g.retries, "rounds of retries over the endpoints (default 4; -1: none)")
	fs.BoolVar(&g.json, "json", g.json, "print JSON for scripts")
	fs.BoolVar(&g.noProgress, "no-progress", g.noProgress, "never draw a progress bar")
	return fs
}

// configure lays flags over the environment over the config file, and
// builds the client.
func (s *session) configure() error {
	g := &s.global
	var fc fileConfig
	path, explicit := g.config, g.config != ""
	if !explicit {
		path, explicit = s.env.Getenv("CAIRN_CONFIG"), s.env.Getenv("CAIRN_CONFIG") != ""
	}
	if !explicit {
		path = defaultConfigPath(s.env.Getenv)
	}
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			dec := yaml.NewDecoder(bytes.NewReader(b))
			dec.KnownFields(true)
			if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read config %s: %s", path, yamlProblem(err))
			}
			g.configFound = path
		case explicit || !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("read config: %w", err)
		}
	}
	endpoints := first(g.endpoint, s.env.Getenv("CAIRN_ENDPOINT"), fc.Endpoint)
	var list []string
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			list = append(list, e)
		}
	}
	if len(list) == 0 && g.endpoint == "" && s.env.Getenv("CAIRN_ENDPOINT") == "" {
		list = fc.Endpoints
	}
	s.cfg = client.Config{
		Endpoints:   list,
		Token:       first(g.token, s.env.Getenv("CAIRN_TOKEN"), fc.Token),
		Parallelism: g.parallel,
		Retries:     g.retries,
		HTTPClient:  s.env.HTTPClient,
	}
	if s.cfg.Parallelism == 0 {
		s.cfg.Parallelism = fc.Parallelism
	}
	if ca := first(g.cacert, s.env.Getenv("CAIRN_CACERT"), fc.CACert); ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return fmt.Errorf("read CA certificate: %w", err)
		}
		s.cfg.CACert = b
	}
	c, err := client.New(s.cfg)
	if err != nil {
		return usagef("%v", err)
	}
	s.c = c
	return nil
}

// yamlProblem says what is wrong in the configuration file in its own
// terms: yaml.v3 names Go's types ("field x not found in type
// cli.fileConfig", "cannot unmarshal !!str `a` into int").
func yamlProblem(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	kinds := map[string]string{"int": "a whole number", "string": "a string", "[]string": "a list of strings"}
	var out []string
	for _, e := range te.Errors {
		if m := yamlNotFound.FindStringSubmatch(e); m != nil {
			e = fmt.Sprintf("%sunknown key %q (known: endpoint, endpoints, token, cacert, parallelism)", m[1], m[2])
		} else if m := yamlWrongType.FindStringSubmatch(e); m != nil {
			want := kinds[m[4]]
			if want == "" {
				want = "another kind of value"
			}
			if m[3] != "" {
				e = fmt.Sprintf("%s%q: want %s", m[1], m[3], want)
			} else {
				e = fmt.Sprintf("%swant %s, not a %s", m[1], want, strings.NewReplacer("seq", "list", "map", "mapping", "str", "string").Replace(m[2]))
			}
		}
		out = append(out, e)
	}
	return strings.Join(out, "; ")
}

var (
	yamlNotFound  = regexp.MustCompile(`^(line \d+: )field (\S+) not found in type \S+$`)
	yamlWrongType = regexp.MustCompile(`^(line \d+: )cannot unmarshal !!(\w+)(?: \x60(.*)\x60)? into (\S+)$`)
)

func defaultConfigPath(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "cairn", "config.yaml")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "cairn", "config.yaml")
	}
	return ""
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments; everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, tail...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// printJSON writes v as indented JSON on stdout.
func (s *session) printJSON(v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(s.env.Stderr, "cairn: encode JSON: %v\n", err)
		return
	}
	s.env.Stdout.Write(buf.Bytes())
}

// emit prints v as JSON with --json, and calls text otherwise.
func (s *session) emit(v any, text func(w io.Writer)) {
	if s.global.json {
		s.printJSON(v)
		return
	}
	text(s.env.Stdout)
}
