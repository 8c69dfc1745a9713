package mlmodel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"cairn/raftfsm"
)

// MaxSize is the largest MLmodel file that Parse reads.
const MaxSize = 1 << 20

const (
	// mlmodelBudget bounds the work of converting one document: a node
	// costs mlmodelNodeCost, a byte of key or scalar text one unit, and an
	// alias costs its target again each time it is expanded. A node takes
	// at least two bytes of YAML, so a file without aliases costs at most
	// about 2.5 units a byte, and real files far less: only aliases that
	// multiply the document reach the limit.
	mlmodelBudget   = 4 * MaxSize
	mlmodelNodeCost = 4
	// mlmodelMaxDepth bounds nesting, counting alias and merge expansions,
	// so that an anchor that contains itself ends.
	mlmodelMaxDepth = 1000
	// mlmodelMaxExactInt bounds the integers that a float64, and so a JSON
	// number decoded into any, holds exactly.
	mlmodelMaxExactInt = 1 << 53
)

var (
	// ErrTooLarge is returned for a file over MaxSize.
	ErrTooLarge = errors.New("larger than MaxSize")
	// ErrTooComplex is returned for a document whose aliases expand
	// beyond the work budget or whose nesting is too deep.
	ErrTooComplex = errors.New("document too complex")
	// ErrNotMapping is returned for a file whose top level is not a
	// YAML mapping: it is empty, a scalar or a sequence.
	ErrNotMapping = errors.New("not a YAML mapping")
)

// Parse parses the content of an MLmodel file. It never panics. A file that is not a YAML mapping,
// or is larger than MaxSize, or whose known fields have the wrong types, returns an error that says why;
// the caller then stores the file anyway and records Model{Error: err.Error()}.
//
// The file must be a single UTF-8 YAML document without NUL bytes, as
// MLflow writes it; a second document is an error, as it is to MLflow's
// yaml.safe_load. Aliases and merge keys are expanded within a work budget;
// a duplicate key is an error. The string fields take the text of any
// scalar ("mlflow_version: 2.0" gives "2.0") and are empty for null; a
// sequence or mapping there is an error. A null flavors, signature or
// saved_input_example_info is absent, and so is an empty flavors or
// saved_input_example_info; a null flavor is an empty mapping; signature
// keys other than inputs, outputs and params are ignored. All other
// top-level fields go to Extra.
//
// Values become what JSON decodes into any, so that the Model survives a
// JSON round trip unchanged: keys are the text of their scalar (1: x gives
// "1"); numbers are float64, but integers of 2^53 or more and NaN or
// infinite floats keep their text; timestamps, binary and other tagged
// scalars keep their text.
func Parse(b []byte) (m raftfsm.Model, err error) {
	if len(b) > MaxSize {
		return m, fmt.Errorf("parse mlmodel: %d bytes: %w", len(b), ErrTooLarge)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return m, fmt.Errorf("parse mlmodel: NUL byte at offset %d", i)
	}
	if !utf8.Valid(b) {
		return m, errors.New("parse mlmodel: not valid UTF-8")
	}
	defer func() {
		if r := recover(); r != nil {
			m, err = raftfsm.Model{}, fmt.Errorf("parse mlmodel: panic: %v", r)
			if f, ok := r.(mlmodelFailure); ok {
				err = fmt.Errorf("parse mlmodel: %w", f.err)
			}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc, next yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return m, fmt.Errorf("parse mlmodel: empty file: %w", ErrNotMapping)
	} else if err != nil {
		return m, fmt.Errorf("parse mlmodel: %w", err)
	}
	if err := dec.Decode(&next); err == nil {
		return m, errors.New("parse mlmodel: more than one YAML document")
	} else if !errors.Is(err, io.EOF) {
		return m, fmt.Errorf("parse mlmodel: second document: %w", err)
	}
	return (&mlmodelWalker{budget: mlmodelBudget}).model(&doc), nil
}

// mlmodelWalker converts a yaml.Node tree to JSON-encodable values and
// counts the work done. Its methods stop at the first error by panicking
// with an mlmodelFailure, which Parse recovers.
type mlmodelWalker struct {
	budget, depth int
	where         string // the field being converted, for errors
}

// mlmodelFailure carries a walker's error to Parse.
type mlmodelFailure struct{ err error }

// fail stops the walk with err.
func (w *mlmodelWalker) fail(err error) {
	panic(mlmodelFailure{fmt.Errorf("%s: %w", w.where, err)})
}

// model converts the document to a Model.
func (w *mlmodelWalker) model(doc *yaml.Node) (m raftfsm.Model) {
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if w.where = "top level"; root.Kind != yaml.MappingNode {
		w.fail(fmt.Errorf("is a %s, %w", mlmodelKind(root), ErrNotMapping))
	}
	texts := map[string]*string{"run_id": &m.RunID, "artifact_path": &m.ArtifactPath,
		"model_uuid": &m.ModelUUID, "model_id": &m.ModelID, "name": &m.Name,
		"mlflow_version": &m.MLflowVersion, "utc_time_created": &m.UTCTimeCreated}
	keys, vals := w.entries(root)
	for i, key := range keys {
		w.where = mlmodelShort(key)
		switch v := vals[i]; {
		case texts[key] != nil:
			*texts[key] = w.text(v)
		case key == "flavors":
			m.Flavors = w.flavors(v)
		case key == "signature":
			m.Signature = w.signature(v)
		case key == "saved_input_example_info":
			if info := w.mapping(v); len(info) > 0 {
				m.SavedInputExampleInfo = info
			}
		default:
			if m.Extra == nil {
				m.Extra = make(map[string]any)
			}
			m.Extra[key] = w.value(v)
		}
	}
	m.CreatedUnixMilli = mlmodelUnixMilli(m.UTCTimeCreated)
	return m
}

// flavors converts the flavors mapping. A null flavor becomes an empty
// mapping, but a scalar or a sequence is an error: MLflow writes only
// mappings there, and cairn could index nothing else.
func (w *mlmodelWalker) flavors(n *yaml.Node) map[string]map[string]any {
	keys, vals := w.entries(n)
	if len(keys) == 0 {
		return nil
	}
	out := make(map[string]map[string]any, len(keys))
	for i, key := range keys {
		w.where = "flavors." + mlmodelShort(key)
		if out[key] = w.mapping(vals[i]); out[key] == nil {
			out[key] = map[string]any{}
		}
	}
	return out
}

// signature reads the inputs, outputs and params strings of a signature.
func (w *mlmodelWalker) signature(n *yaml.Node) *raftfsm.Signature {
	if mlmodelNull(n) {
		return nil
	}
	s := &raftfsm.Signature{}
	parts := map[string]*string{"inputs": &s.Inputs, "outputs": &s.Outputs, "params": &s.Params}
	keys, vals := w.entries(n)
	for i, key := range keys {
		if p := parts[key]; p != nil {
			w.where = "signature." + key
			*p = w.text(vals[i])
		}
	}
	return s
}

// mapping converts a node that must be a mapping or null; null gives nil.
func (w *mlmodelWalker) mapping(n *yaml.Node) map[string]any {
	if mlmodelNull(n) {
		return nil
	} else if n = mlmodelResolve(n); n.Kind != yaml.MappingNode {
		w.fail(fmt.Errorf("is a %s, not a mapping", mlmodelKind(n)))
	}
	return w.value(n).(map[string]any)
}

// text returns the text of a scalar, or "" for null.
func (w *mlmodelWalker) text(n *yaml.Node) string {
	if n = mlmodelResolve(n); n.Kind != yaml.ScalarNode {
		w.fail(fmt.Errorf("is a %s, not a string", mlmodelKind(n)))
	} else if mlmodelNull(n) {
		return ""
	}
	w.charge(len(n.Value))
	return n.Value
}

// value converts a node to nil, bool, float64, string, []any or
// map[string]any.
func (w *mlmodelWalker) value(n *yaml.Node) any {
	if w.depth++; w.depth > mlmodelMaxDepth {
		w.fail(fmt.Errorf("nested deeper than %d: %w", mlmodelMaxDepth, ErrTooComplex))
	}
	defer func() { w.depth-- }()
	n = mlmodelResolve(n)
	w.charge(mlmodelNodeCost)
	switch n.Kind {
	case yaml.ScalarNode:
		return w.scalar(n)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = w.value(c)
		}
		return out
	}
	keys, vals := w.entries(n)
	out := make(map[string]any, len(keys))
	for i, key := range keys {
		out[key] = w.value(vals[i])
	}
	return out
}

// entries lists the keys and value nodes of a mapping or null: its own
// keys first, then the ones its merge keys (<<) add, earlier merges first.
func (w *mlmodelWalker) entries(n *yaml.Node) (keys []string, vals []*yaml.Node) {
	if n = mlmodelResolve(n); mlmodelNull(n) {
		return nil, nil
	} else if n.Kind != yaml.MappingNode {
		w.fail(fmt.Errorf("is a %s, not a mapping", mlmodelKind(n)))
	}
	seen := make(map[string]bool, len(n.Content)/2)
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := mlmodelResolve(n.Content[i]); {
		case k.Kind != yaml.ScalarNode:
			w.fail(fmt.Errorf("a %s as a key", mlmodelKind(k)))
		case k.ShortTag() == "!!merge":
			if v := mlmodelResolve(n.Content[i+1]); v.Kind == yaml.SequenceNode {
				merged = append(merged, v.Content...)
			} else {
				merged = append(merged, v)
			}
		case seen[k.Value]:
			w.fail(fmt.Errorf("key %q defined twice", mlmodelShort(k.Value)))
		default:
			w.charge(len(k.Value))
			seen[k.Value] = true
			keys, vals = append(keys, k.Value), append(vals, n.Content[i+1])
		}
	}
	if len(merged) > 0 {
		if w.depth++; w.depth > mlmodelMaxDepth {
			w.fail(fmt.Errorf("merges nested deeper than %d: %w", mlmodelMaxDepth, ErrTooComplex))
		}
		defer func() { w.depth-- }()
	}
	for _, src := range merged {
		if src = mlmodelResolve(src); src.Kind != yaml.MappingNode && !mlmodelNull(src) {
			w.fail(fmt.Errorf("merge key with a %s, not a mapping", mlmodelKind(src)))
		}
		w.charge(mlmodelNodeCost)
		mk, mv := w.entries(src)
		for j, key := range mk {
			if !seen[key] {
				seen[key] = true
				keys, vals = append(keys, key), append(vals, mv[j])
			}
		}
	}
	return keys, vals
}

// scalar converts a scalar as Parse describes.
func (w *mlmodelWalker) scalar(n *yaml.Node) any {
	w.charge(len(n.Value))
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			w.fail(err)
		}
		switch x := v.(type) {
		case bool:
			return x
		case float64:
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				return x
			}
		case int, int64, uint64:
			if f, _ := strconv.ParseFloat(fmt.Sprint(x), 64); math.Abs(f) < mlmodelMaxExactInt {
				return f
			}
		}
	}
	if !utf8.ValidString(n.Value) {
		w.fail(errors.New("string is not valid UTF-8"))
	}
	return n.Value
}

// charge spends cost units of the work budget.
func (w *mlmodelWalker) charge(cost int) {
	if w.budget -= cost; w.budget < 0 {
		w.fail(fmt.Errorf("aliases expand beyond %d units: %w", mlmodelBudget, ErrTooComplex))
	}
}

// mlmodelResolve follows an alias to its anchor; the yaml parser rejects
// an alias to an unknown anchor, and an alias cannot itself be anchored.
func mlmodelResolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// mlmodelNull reports whether n is, or is an alias of, a null scalar.
func mlmodelNull(n *yaml.Node) bool {
	n = mlmodelResolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mlmodelShort cuts s to about 64 bytes on a rune boundary, for errors.
func mlmodelShort(s string) string {
	for i := range s {
		if i > 60 {
			return s[:i] + "..."
		}
	}
	return s
}

// mlmodelKind names the kind of n for errors.
func mlmodelKind(n *yaml.Node) string {
	return map[yaml.Kind]string{yaml.ScalarNode: "scalar", yaml.SequenceNode: "sequence",
		yaml.MappingNode: "mapping", yaml.DocumentNode: "document"}[n.Kind]
}

// mlmodelUnixMilli parses utc_time_created as MLflow writes it (Python's
// str of a naive UTC datetime) or in ISO 8601; it gives 0 when it cannot.
// Fractional seconds are optional in each layout.
func mlmodelUnixMilli(s string) int64 {
	for _, layout := range [...]string{"2006-01-02 15:04:05", "2006-01-02T15:04:05",
		"2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05Z07:00", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(s), time.UTC); err == nil {
			return t.UnixMilli()
		}
	}
	return 0
}

// Index parses an MLmodel file for the model index: a file that does not
// parse is indexed with the reason.
func Index(b []byte) *raftfsm.Model {
	m, err := Parse(b)
	if err != nil {
		return &raftfsm.Model{Error: err.Error()}
	}
	return &m
}
