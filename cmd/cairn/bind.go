package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"cairn/daemon"
)

// A value is a setting's type and where it lands in the options. set
// parses the text of a flag, a variable or a YAML scalar.
type value interface {
	kind() string // what --help shows after the flag: "duration", "bytes", ...
	set(o *options, s string) error
}

// A yamlValue also takes YAML that is not a scalar (a list).
type yamlValue interface {
	setYAML(o *options, n *yaml.Node) error
}

// field is a value parsed by parse and stored at to(o).
type field[T any] struct {
	k     string
	parse func(string) (T, error)
	to    func(*options) *T
}

func (f field[T]) kind() string { return f.k }

func (f field[T]) set(o *options, s string) error {
	v, err := f.parse(s)
	if err != nil {
		return err
	}
	*f.to(o) = v
	return nil
}

func text(kind string, to func(*options) *string) value {
	return field[string]{kind, func(s string) (string, error) { return s, nil }, to}
}

func boolean(to func(*options) *bool) value { return field[bool]{"bool", parseBool, to} }

func integer(to func(*options) *int) value { return field[int]{"int", parseInt, to} }

func duration(to func(*options) *time.Duration) value {
	return field[time.Duration]{"duration", parseDuration, to}
}

func size(to func(*options) *int64) value { return field[int64]{"bytes", parseBytes, to} }

// peersValue is the initial voters of a cluster: id=host:port,... or, in
// the file, also a list of id=host:port.
type peersValue struct{}

func (peersValue) kind() string { return "id=host:port,..." }

func (peersValue) set(o *options, s string) error {
	peers, err := daemon.ParsePeers(s)
	if err != nil {
		return err
	}
	o.cfg.Bootstrap = peers
	return nil
}

func (v peersValue) setYAML(o *options, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return errors.New("want id=host:port,... or a list of id=host:port")
	}
	var items []string
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: want id=host:port", item.Line)
		}
		items = append(items, item.Value)
	}
	return v.set(o, strings.Join(items, ","))
}

// keysValue is access keys to seed: id:secret,... or, in the file, a list
// of {access_key, secret_key}. Its errors never repeat what was given.
type keysValue struct{}

func (keysValue) kind() string { return "id:secret,..." }

func (keysValue) set(o *options, s string) error {
	keys, err := parseKeyList(s)
	if err != nil {
		return err
	}
	o.cfg.S3Keys = keys
	return nil
}

func (keysValue) setYAML(o *options, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return errors.New("want a list of {access_key, secret_key}")
	}
	var keys []daemon.S3Key
	for i, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			return fmt.Errorf("key %d (line %d): want {access_key, secret_key}", i+1, item.Line)
		}
		var k daemon.S3Key
		for j := 0; j+1 < len(item.Content); j += 2 {
			name, v := item.Content[j], item.Content[j+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("key %d (line %d): %s: want a string", i+1, v.Line, name.Value)
			}
			switch name.Value {
			case "access_key":
				k.AccessKey = v.Value
			case "secret_key":
				k.SecretKey = v.Value
			default:
				return fmt.Errorf("key %d (line %d): unknown field %q: want access_key and secret_key", i+1, name.Line, name.Value)
			}
		}
		keys = append(keys, k)
	}
	o.cfg.S3Keys = keys
	return nil
}
