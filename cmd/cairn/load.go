package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// rawFlag records a flag's text; load parses it with the setting's value,
// after it knows which source wins.
type rawFlag struct {
	text   string
	given  bool
	isBool bool
}

func (f *rawFlag) String() string     { return "" } // never print a value: it may be a secret
func (f *rawFlag) Set(s string) error { f.text, f.given = s, true; return nil }
func (f *rawFlag) IsBoolFlag() bool   { return f.isBool }

// load reads cairn serve's settings: each from its flag in args, else its
// variable in the environment, else its key in the configuration file,
// else its default. It returns flag.ErrHelp when args ask for help.
func load(table []setting, args []string, getenv func(string) string) (*options, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := make([]*rawFlag, len(table))
	for i, s := range table {
		flags[i] = &rawFlag{isBool: s.value.kind() == "bool"}
		fs.Var(flags[i], s.Flag, s.Help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown flag --" + strings.TrimLeft(name, "-")
		} else if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
			msg = "--" + strings.TrimLeft(name, "-") + " needs a value"
		}
		return nil, fmt.Errorf("%s (cairn serve --help lists the settings)", msg)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve takes no arguments, got %q (a flag that is true or false takes its value as --flag=false)", fs.Arg(0))
	}
	o := &options{from: map[string]string{}}
	var file map[string]*yaml.Node
	for pass := range 2 { // the file's name first, then the settings it holds
		for i, s := range table {
			if (s.Key == "") != (pass == 0) {
				continue
			}
			if err := o.resolve(s, flags[i], getenv, file); err != nil {
				return nil, err
			}
		}
		if pass == 0 && o.configPath != "" {
			var err error
			if file, err = readConfig(table, o.configPath); err != nil {
				if o.from["config"] == "env" {
					err = fmt.Errorf("%w\n(the file came from CAIRN_CONFIG, which also names the CLI's configuration: give cairn serve its own with --config)", err)
				}
				return nil, err
			}
		}
	}
	return o, nil
}

// resolve lands one setting from the source that wins.
func (o *options) resolve(s setting, f *rawFlag, getenv func(string) string, file map[string]*yaml.Node) error {
	var src, text string
	switch n := file[s.Key]; {
	case f.given:
		src, text = "flag", f.text
	case getenv(s.Env) != "":
		src, text = "env", getenv(s.Env)
	case n != nil:
		o.from[s.Flag] = "file"
		err := setNode(o, s, n)
		if err != nil {
			return fmt.Errorf("config %s: %s (line %d): %w", o.configPath, s.Key, n.Line, err)
		}
		return nil
	case s.Default != "":
		src, text = "default", s.Default
	default:
		return nil
	}
	o.from[s.Flag] = src
	if err := s.value.set(o, text); err != nil {
		shown := fmt.Sprintf(" %q", text)
		if s.Secret {
			shown = ""
		}
		switch src {
		case "flag":
			return fmt.Errorf("--%s%s: %w", s.Flag, shown, err)
		case "env":
			return fmt.Errorf("%s%s: %w", s.Env, shown, err)
		}
		return fmt.Errorf("default of %s %q: %w", s.Key, text, err)
	}
	return nil
}

// setNode lands a setting from its YAML node.
func setNode(o *options, s setting, n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return s.value.set(o, n.Value)
	}
	if yv, ok := s.value.(yamlValue); ok {
		return yv.setYAML(o, n)
	}
	return errors.New("want a single value, not a list or a mapping")
}

// readConfig reads the YAML configuration file: a mapping of settings'
// keys. A key that names no setting is an error, as is a key given
// twice; a key with no value (null) counts as not given.
func readConfig(table []setting, path string) (map[string]*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s: want a mapping of settings (key: value)", path)
	}
	known := map[string]bool{}
	for _, s := range table {
		if s.Key != "" {
			known[s.Key] = true
		}
	}
	out := map[string]*yaml.Node{}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch {
		case !known[k.Value]:
			hint := ""
			if alt := strings.ReplaceAll(strings.TrimLeft(k.Value, "-"), "-", "_"); known[alt] {
				hint = fmt.Sprintf(" (did you mean %s?)", alt)
			}
			errs = append(errs, fmt.Errorf("config %s: line %d: unknown setting %q%s", path, k.Line, k.Value, hint))
		case out[k.Value] != nil:
			errs = append(errs, fmt.Errorf("config %s: line %d: %s given twice", path, k.Line, k.Value))
		case v.Tag == "!!null":
		default:
			out[k.Value] = v
		}
	}
	return out, errors.Join(errs...)
}
