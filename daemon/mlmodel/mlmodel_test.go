package mlmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/raftfsm"
)

// mlmodelFixtureDir holds MLmodel files in the shapes MLflow 1.x, 2.x and
// 3.x write; all but the seed were written with yaml.safe_dump as MLflow's
// Model.to_yaml does.
const mlmodelFixtureDir = "testdata"

func readMLmodelFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mlmodelFixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// utcMilli is the Unix time in milliseconds of a UTC wall clock time.
func utcMilli(year int, month time.Month, day, hour, min, sec, micro int) int64 {
	return time.Date(year, month, day, hour, min, sec, micro*1000, time.UTC).UnixMilli()
}

// checkMLmodelRoundTrip fails the test unless m encodes to JSON and decodes
// back to an equal Model, as the Raft command needs.
func checkMLmodelRoundTrip(t testing.TB, m raftfsm.Model) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("json.Marshal: %v\nmodel: %#v", err, m)
	}
	var back raftfsm.Model
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("json.Unmarshal: %v\njson: %s", err, b)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("JSON round trip changed the model\nbefore: %#v\nafter:  %#v\njson: %s", m, back, b)
	}
}

// diffMLmodel reports got and want as indented JSON when they differ.
func diffMLmodel(t *testing.T, got, want raftfsm.Model) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("model differs\ngot:  %#v\nwant: %#v\ngot JSON:\n%s\nwant JSON:\n%s", got, want, g, w)
	}
}

func TestParseMLmodelFixtures(t *testing.T) {
	env := map[string]any{"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
	tests := []struct {
		file string
		want raftfsm.Model
	}{{
		file: "seed-xgboost-2.9.2.MLmodel",
		want: raftfsm.Model{
			RunID:            "905eefe8ef2a42b6bf2c56e07eae026d",
			ArtifactPath:     "model",
			ModelUUID:        "9c6a9313560c4bea8fdcb84dc486b4c1",
			MLflowVersion:    "2.9.2",
			UTCTimeCreated:   "2026-11-27 21:43:35.476920",
			CreatedUnixMilli: utcMilli(2026, 11, 27, 21, 43, 35, 476920),
			Flavors: map[string]map[string]any{
				"python_function": {"data": "model.xgb", "env": env,
					"loader_module": "mlflow.xgboost", "python_version": "3.11.2"},
				"xgboost": {"code": nil, "data": "model.xgb", "model_class": "xgboost.core.Booster",
					"model_format": "xgb", "xgb_version": "1.7.4"},
			},
			Signature: &raftfsm.Signature{
				Inputs: `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 20]}}]`,
			},
		},
	}, {
		file: "sklearn-1.30.0.MLmodel",
		want: raftfsm.Model{
			RunID:            "6c41b00a1165a048157f074cf4a7eb3c",
			ArtifactPath:     "model",
			ModelUUID:        "3ef3a222b4a367a714df3c4c886b0fad",
			MLflowVersion:    "1.30.0",
			UTCTimeCreated:   "2022-11-15 10:27:04.316482",
			CreatedUnixMilli: utcMilli(2022, 11, 15, 10, 27, 4, 316482),
			Flavors: map[string]map[string]any{
				"python_function": {"env": "conda.yaml", "loader_module": "mlflow.sklearn",
					"model_path": "model.pkl", "python_version": "3.8.15"},
				"sklearn": {"code": nil, "pickled_model": "model.pkl",
					"serialization_format": "cloudpickle", "sklearn_version": "1.1.3"},
			},
		},
	}, {
		file: "xgboost-2.14.1.MLmodel",
		want: raftfsm.Model{
			RunID:            "3c1bda360e8c4ad941a59040e83b842e",
			ArtifactPath:     "model",
			ModelUUID:        "024e4f4d08d1091ebe8571523d664661",
			MLflowVersion:    "2.14.1",
			UTCTimeCreated:   "2024-07-02 09:15:22.918273",
			CreatedUnixMilli: utcMilli(2024, 7, 2, 9, 15, 22, 918273),
			Flavors: map[string]map[string]any{
				"python_function": {"data": "model.xgb", "env": env,
					"loader_module": "mlflow.xgboost", "python_version": "3.10.13"},
				"xgboost": {"code": nil, "data": "model.xgb", "model_class": "xgboost.sklearn.XGBClassifier",
					"model_format": "xgb", "xgb_version": "2.0.3"},
			},
			Signature: &raftfsm.Signature{
				Inputs:  `[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 8]}}]`,
				Outputs: `[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]`,
				// Wrapped over two lines in the file; folding gives one space.
				Params: `[{"name": "output_margin", "type": "boolean", "default": false, "shape": null}]`,
			},
			SavedInputExampleInfo: map[string]any{"artifact_path": "input_example.json",
				"format": "tf-serving", "type": "ndarray"},
			Extra: map[string]any{
				"metadata": map[string]any{"auc": 0.9312, "dataset": "fraud-2024-02",
					"owner": "risk-ml", "reviewed": true},
				"model_size_bytes": float64(183264),
			},
		},
	}, {
		file: "pyfunc-3.1.0-norun.MLmodel",
		want: raftfsm.Model{
			ArtifactPath:     "file:///home/runner/mlruns/0/models/m-cf675902efb0ff855206af7021cd7885/artifacts",
			ModelUUID:        "m-cf675902efb0ff855206af7021cd7885",
			ModelID:          "m-cf675902efb0ff855206af7021cd7885",
			MLflowVersion:    "3.1.0",
			UTCTimeCreated:   "2025-06-24 13:52:40.118305",
			CreatedUnixMilli: utcMilli(2025, 6, 24, 13, 52, 40, 118305),
			Flavors: map[string]map[string]any{
				"python_function": {"cloudpickle_version": "3.1.1", "code": nil, "env": env,
					"loader_module": "mlflow.pyfunc.model", "python_model": "python_model.pkl",
					"python_version": "3.11.9", "streamable": false},
			},
			Signature: &raftfsm.Signature{
				Inputs:  `[{"type": "string", "required": true}]`,
				Outputs: `[{"type": "string", "required": true}]`,
			},
			Extra: map[string]any{
				"is_signature_from_type_hint": true,
				"model_size_bytes":            float64(1187),
				"prompts":                     nil,
				"type_hint_from_example":      false,
			},
		},
	}, {
		file: "sklearn-3.4.0-run.MLmodel",
		want: raftfsm.Model{
			RunID:            "0be6bf305ab76dda8afa38506118d7ed",
			ArtifactPath:     "mlflow-artifacts:/4/models/m-a62b8e41ed92ad4383ab6b2d242fc885/artifacts",
			ModelUUID:        "m-a62b8e41ed92ad4383ab6b2d242fc885",
			ModelID:          "m-a62b8e41ed92ad4383ab6b2d242fc885",
			MLflowVersion:    "3.4.0",
			UTCTimeCreated:   "2025-10-02 17:31:08.550917",
			CreatedUnixMilli: utcMilli(2025, 10, 2, 17, 31, 8, 550917),
			Flavors: map[string]map[string]any{
				"python_function": {"env": env, "loader_module": "mlflow.sklearn",
					"model_path": "model.pkl", "predict_fn": "predict", "python_version": "3.12.11"},
				"sklearn": {"code": nil, "pickled_model": "model.pkl",
					"serialization_format": "cloudpickle", "sklearn_version": "1.7.1"},
			},
			Signature: &raftfsm.Signature{
				// Wrapped over four lines in the file.
				Inputs: `[{"type": "double", "name": "sepal length (cm)", "required": true}, ` +
					`{"type": "double", "name": "sepal width (cm)", "required": true}, ` +
					`{"type": "double", "name": "petal length (cm)", "required": true}, ` +
					`{"type": "double", "name": "petal width (cm)", "required": true}]`,
				Outputs: `[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]`,
			},
			SavedInputExampleInfo: map[string]any{"artifact_path": "input_example.json",
				"pandas_orient": "split", "serving_input_path": "serving_input_example.json",
				"type": "dataframe"},
			Extra: map[string]any{
				"is_signature_from_type_hint": false,
				"model_size_bytes":            float64(52391),
				"prompts":                     nil,
				"type_hint_from_example":      false,
			},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(readMLmodelFixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			diffMLmodel(t, got, tt.want)
			checkMLmodelRoundTrip(t, got)
		})
	}
}

func TestParseMLmodelTimes(t *testing.T) {
	ms := utcMilli(2026, 11, 27, 21, 43, 35, 476920)
	tests := []struct {
		name, line string
		text       string
		milli      int64
	}{
		{"quoted as MLflow writes it", `'2026-11-27 21:43:35.476920'`, "2026-11-27 21:43:35.476920", ms},
		{"unquoted, a YAML timestamp", `2026-11-27 21:43:35.476920`, "2026-11-27 21:43:35.476920", ms},
		{"no fractional seconds", `'2026-11-27 21:43:35'`, "2026-11-27 21:43:35", ms - 476},
		{"T separator", `2026-11-27T21:43:35.476920`, "2026-11-27T21:43:35.476920", ms},
		{"Z zone", `2026-11-27T21:43:35Z`, "2026-11-27T21:43:35Z", ms - 476},
		{"offset is converted to UTC", `'2026-11-27T22:43:35.476920+01:00'`, "2026-11-27T22:43:35.476920+01:00", ms},
		{"offset after a space separator", `'2026-11-27 21:43:35.476920+00:00'`, "2026-11-27 21:43:35.476920+00:00", ms},
		{"nanoseconds are truncated", `'2026-11-27 21:43:35.476999999'`, "2026-11-27 21:43:35.476999999", ms},
		{"date only", `2026-11-27`, "2026-11-27", utcMilli(2026, 11, 27, 0, 0, 0, 0)},
		{"before 1970", `'1969-12-31 23:59:59.5'`, "1969-12-31 23:59:59.5", -500},
		{"unparseable", `'last tuesday'`, "last tuesday", 0},
		{"impossible date", `'2026-02-30 10:00:00'`, "2026-02-30 10:00:00", 0},
		{"a number", `1764279815`, "1764279815", 0},
		{"null", `null`, "", 0},
		{"empty", `''`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte("flavors: {}\nutc_time_created: " + tt.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got.UTCTimeCreated != tt.text || got.CreatedUnixMilli != tt.milli {
				t.Errorf("got (%q, %d), want (%q, %d)", got.UTCTimeCreated, got.CreatedUnixMilli, tt.text, tt.milli)
			}
		})
	}
}

// TestParseMLmodelTolerated covers the inputs that parse although MLflow
// would not write them so, or that need conversion to be JSON-encodable.
func TestParseMLmodelTolerated(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want raftfsm.Model
	}{{
		name: "MLflow 3 name and null run_id",
		in:   "model_id: m-0112ba8babe744e9b9c2e4a61086b08e\nname: churn\nrun_id: null\nartifact_path: null\n",
		want: raftfsm.Model{ModelID: "m-0112ba8babe744e9b9c2e4a61086b08e", Name: "churn"},
	}, {
		name: "scalars of other types in string fields keep their text",
		in:   "mlflow_version: 2.0\nrun_id: 12345\nmodel_uuid: true\nname: 0x1F\n",
		want: raftfsm.Model{MLflowVersion: "2.0", RunID: "12345", ModelUUID: "true", Name: "0x1F"},
	}, {
		name: "null and empty flavors, signature and input example",
		in:   "flavors: null\nsignature: null\nsaved_input_example_info: {}\n",
		want: raftfsm.Model{},
	}, {
		name: "empty flavors mapping",
		in:   "flavors: {}\nsaved_input_example_info: null\n",
		want: raftfsm.Model{},
	}, {
		name: "null flavor is an empty mapping",
		in:   "flavors:\n  python_function:\n  sklearn: {}\n",
		want: raftfsm.Model{Flavors: map[string]map[string]any{"python_function": {}, "sklearn": {}}},
	}, {
		name: "empty signature mapping",
		in:   "signature: {}\n",
		want: raftfsm.Model{Signature: &raftfsm.Signature{}},
	}, {
		name: "signature with only inputs and an unknown key",
		in:   "signature:\n  inputs: '[]'\n  schema_version: 3\n",
		want: raftfsm.Model{Signature: &raftfsm.Signature{Inputs: "[]"}},
	}, {
		name: "non-string keys become their text",
		in:   "1: one\nmetadata: {2: two, true: t, null: n, ~: tilde, 2.5: f, 2024-01-02: d}\n",
		want: raftfsm.Model{Extra: map[string]any{"1": "one", "metadata": map[string]any{
			"2": "two", "true": "t", "null": "n", "~": "tilde", "2.5": "f", "2024-01-02": "d"}}},
	}, {
		name: "NaN and infinities keep their text",
		in:   "metadata: {a: .nan, b: -.inf, c: .Inf, d: 1.5, e: -0.0}\n",
		want: raftfsm.Model{Extra: map[string]any{"metadata": map[string]any{
			"a": ".nan", "b": "-.inf", "c": ".Inf", "d": 1.5, "e": 0.0}}},
	}, {
		name: "integers are float64 up to 2^53, text beyond",
		in: "model_size_bytes: 9007199254740991\nbig: 9007199254740993\n" +
			"huge: 18446744073709551615\nneg: -42\nhex: 0x1F\noct: 0o17\n",
		want: raftfsm.Model{Extra: map[string]any{"model_size_bytes": float64(9007199254740991),
			"big": "9007199254740993", "huge": "18446744073709551615", "neg": float64(-42),
			"hex": float64(31), "oct": float64(15)}},
	}, {
		name: "timestamps, binary and custom tags keep their text",
		in: "metadata:\n  trained: 2024-01-02T03:04:05Z\n  day: !!timestamp 2024-01-02\n" +
			"  blob: !!binary aGVsbG8=\n  custom: !mytag value\n  py: !!python/tuple [1, 2]\n",
		want: raftfsm.Model{Extra: map[string]any{"metadata": map[string]any{
			"trained": "2024-01-02T03:04:05Z", "day": "2024-01-02", "blob": "aGVsbG8=",
			"custom": "value", "py": []any{float64(1), float64(2)}}}},
	}, {
		name: "YAML 1.2 booleans only: yes and on stay strings",
		in:   "metadata: {a: true, b: False, c: yes, d: on, e: 'true'}\n",
		want: raftfsm.Model{Extra: map[string]any{"metadata": map[string]any{
			"a": true, "b": false, "c": "yes", "d": "on", "e": "true"}}},
	}, {
		name: "aliases and merge keys are expanded",
		in: "common: &env {conda: conda.yaml, virtualenv: python_env.yaml}\n" +
			"base: &base {code: null, sklearn_version: 1.2.2}\n" +
			"flavors:\n  python_function:\n    env: *env\n    loader_module: mlflow.sklearn\n" +
			"  sklearn:\n    <<: [*base, {sklearn_version: 0.1, pickled_model: model.pkl}]\n" +
			"    serialization_format: cloudpickle\n    code: src\n",
		want: raftfsm.Model{
			Flavors: map[string]map[string]any{
				"python_function": {"env": map[string]any{"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
					"loader_module": "mlflow.sklearn"},
				"sklearn": {"code": "src", "sklearn_version": "1.2.2", "pickled_model": "model.pkl",
					"serialization_format": "cloudpickle"},
			},
			Extra: map[string]any{
				"common": map[string]any{"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
				"base":   map[string]any{"code": nil, "sklearn_version": "1.2.2"},
			},
		},
	}, {
		name: "PyYAML anchors for an object used twice",
		in: "flavors:\n  python_function:\n    loader_module: mlflow.transformers\n" +
			"    model_config: &id001\n      framework: pt\n      task: text-classification\n" +
			"  transformers:\n    inference_config: *id001\n    pipeline_model_type: BertForSequenceClassification\n",
		want: raftfsm.Model{Flavors: map[string]map[string]any{
			"python_function": {"loader_module": "mlflow.transformers",
				"model_config": map[string]any{"framework": "pt", "task": "text-classification"}},
			"transformers": {"inference_config": map[string]any{"framework": "pt", "task": "text-classification"},
				"pipeline_model_type": "BertForSequenceClassification"},
		}},
	}, {
		name: "alias for a known field",
		in:   "run_id: &r 905eefe8ef2a42b6bf2c56e07eae026d\nmodel_uuid: *r\nsignature: &s {inputs: '[]'}\nsig2: *s\n",
		want: raftfsm.Model{RunID: "905eefe8ef2a42b6bf2c56e07eae026d", ModelUUID: "905eefe8ef2a42b6bf2c56e07eae026d",
			Signature: &raftfsm.Signature{Inputs: "[]"}, Extra: map[string]any{"sig2": map[string]any{"inputs": "[]"}}},
	}, {
		name: "BOM, markers, comments, flow style",
		in:   "\ufeff# written by hand\n---\n{run_id: abc, flavors: {sklearn: {sklearn_version: '1.3'}}} # end\n...\n",
		want: raftfsm.Model{RunID: "abc", Flavors: map[string]map[string]any{"sklearn": {"sklearn_version": "1.3"}}},
	}, {
		name: "unicode and escapes",
		in:   "name: \"模型 \\u2028 \\0 \\x41 \\U0001F600\"\nmetadata: {\"é\": [], \"\": {}}\n",
		want: raftfsm.Model{Name: "模型 \u2028 \x00 A 😀",
			Extra: map[string]any{"metadata": map[string]any{"é": []any{}, "": map[string]any{}}}},
	}, {
		name: "pyfunc artifacts nest mappings",
		in: "flavors:\n  python_function:\n    artifacts:\n      xgb_model:\n        path: artifacts/xgb_model.pth\n" +
			"        uri: xgb_model.pth\n    env: conda.yaml\n    loader_module: mlflow.pyfunc.model\n" +
			"databricks_runtime: 10.0.x-snapshot-cpu-ml-scala2.12\n",
		want: raftfsm.Model{
			Flavors: map[string]map[string]any{"python_function": {
				"artifacts": map[string]any{"xgb_model": map[string]any{
					"path": "artifacts/xgb_model.pth", "uri": "xgb_model.pth"}},
				"env": "conda.yaml", "loader_module": "mlflow.pyfunc.model"}},
			Extra: map[string]any{"databricks_runtime": "10.0.x-snapshot-cpu-ml-scala2.12"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			diffMLmodel(t, got, tt.want)
			checkMLmodelRoundTrip(t, got)
		})
	}
}

// mlmodelAliasBomb is a billion-laughs document: levels anchors, each a
// list of fan aliases to the one before, so that it expands to
// fan^levels copies of leaf.
func mlmodelAliasBomb(levels, fan int, leaf string) []byte {
	var sb strings.Builder
	sb.WriteString("l0: &l0 '" + leaf + "'\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&sb, "l%d: &l%d [*l%d%s]\n", i, i, i-1, strings.Repeat(fmt.Sprintf(", *l%d", i-1), fan-1))
	}
	return []byte(sb.String())
}

func TestParseMLmodelErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		is   error  // a sentinel the error wraps, if any
		says string // a part of the error message
	}{
		{"empty file", nil, ErrNotMapping, "empty file"},
		{"only comments and blank lines", []byte("# nothing\n\n  \n"), ErrNotMapping, "empty file"},
		{"empty document", []byte("---\n"), ErrNotMapping, "top level: is a scalar"},
		{"null document", []byte("null\n"), ErrNotMapping, "is a scalar"},
		{"a list", []byte("- run_id: a\n- run_id: b\n"), ErrNotMapping, "is a sequence"},
		{"a scalar", []byte("hello world\n"), ErrNotMapping, "is a scalar"},
		{"invalid YAML", []byte("flavors: [unclosed\n"), nil, "yaml:"},
		{"bad indentation", []byte("flavors:\n  sklearn: {}\n bad: 1\n"), nil, "yaml:"},
		{"tab indentation", []byte("flavors:\n\tsklearn: {}\n"), nil, "yaml:"},
		{"flavors as a list", []byte("flavors:\n- python_function\n- sklearn\n"), nil, "flavors: is a sequence, not a mapping"},
		{"flavors as a string", []byte("flavors: sklearn\n"), nil, "flavors: is a scalar, not a mapping"},
		{"flavor as a list", []byte("flavors:\n  sklearn: [model.pkl]\n"), nil, "flavors.sklearn: is a sequence, not a mapping"},
		{"flavor as a string", []byte("flavors:\n  sklearn: model.pkl\n"), nil, "flavors.sklearn: is a scalar, not a mapping"},
		{"signature as a string", []byte("signature: '[]'\n"), nil, "signature: is a scalar, not a mapping"},
		{"signature inputs as a list", []byte("signature:\n  inputs:\n  - type: double\n"), nil, "signature.inputs: is a sequence, not a string"},
		{"run_id as a mapping", []byte("run_id: {id: x}\n"), nil, "run_id: is a mapping, not a string"},
		{"utc_time_created as a list", []byte("utc_time_created: [2026]\n"), nil, "utc_time_created: is a sequence, not a string"},
		{"input example info as a list", []byte("saved_input_example_info: [a]\n"), nil, "saved_input_example_info: is a sequence"},
		{"duplicate top-level key", []byte("run_id: a\nrun_id: b\n"), nil, `top level: key "run_id" defined twice`},
		{"duplicate after key conversion", []byte("metadata: {1: a, '1': b}\n"), nil, `metadata: key "1" defined twice`},
		{"sequence as a key", []byte("? [a, b]\n: c\n"), nil, "a sequence as a key"},
		{"mapping as a key", []byte("metadata: {? {a: 1} : c}\n"), nil, "a mapping as a key"},
		{"merge of a scalar", []byte("flavors:\n  sklearn:\n    <<: 5\n"), nil, "flavors.sklearn: merge key with a scalar, not a mapping"},
		{"merge of a list of lists", []byte("metadata: {<<: [[a]]}\n"), nil, "metadata: merge key with a sequence"},
		{"unknown anchor", []byte("run_id: *nope\n"), nil, "unknown anchor"},
		{"explicit tag that does not fit", []byte("model_size_bytes: !!int lots\n"), nil, "model_size_bytes:"},
		{"two documents", []byte("run_id: a\n---\nrun_id: b\n"), nil, "more than one YAML document"},
		{"a trailing empty document", []byte("run_id: a\n---\n"), nil, "more than one YAML document"},
		{"an invalid second document", []byte("run_id: a\n---\n[\n"), nil, "second document"},
		{"NUL byte", []byte("run_id: a\x00b\n"), nil, "NUL byte at offset 9"},
		{"UTF-16 file", []byte("\xff\xfer\x00u\x00n\x00"), nil, "NUL byte"},
		{"invalid UTF-8", []byte("run_id: caf\xe9\n"), nil, "not valid UTF-8"},
		{"over the size limit", []byte("run_id: a\n" + strings.Repeat("#", MaxSize)), ErrTooLarge, "1048586 bytes"},
		{"billion laughs", mlmodelAliasBomb(9, 10, "lol"), ErrTooComplex, "aliases expand beyond"},
		{"alias bomb of long strings", []byte("a: &a '" + strings.Repeat("x", 1<<16) + "'\nb: [" +
			strings.Repeat("*a, ", 200) + "*a]\n"), ErrTooComplex, "b: aliases expand beyond"},
		{"alias bomb through merges", mlmodelMergeBomb(), ErrTooComplex, "aliases expand beyond"},
		{"anchor that contains itself", []byte("a: &a [1, *a]\n"), ErrTooComplex, "a: nested deeper than 1000"},
		{"merge of itself", []byte("a: &a {b: 1, <<: *a}\n"), ErrTooComplex, "a: merges nested deeper than 1000"},
		{"deep nesting", []byte("metadata: " + strings.Repeat("[", 1500) + strings.Repeat("]", 1500) + "\n"), ErrTooComplex, "nested deeper than 1000"},
		{"deeper than the yaml parser allows", []byte("metadata: " + strings.Repeat("[", 20000) + "\n"), nil, "exceeded max depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("no error; model %#v", got)
			}
			t.Logf("%v (in %v)", err, time.Since(start))
			if !reflect.DeepEqual(got, raftfsm.Model{}) {
				t.Errorf("model with the error is %#v, want the zero Model", got)
			}
			if !strings.HasPrefix(err.Error(), "parse mlmodel: ") || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q, want it to start with %q and contain %q", err, "parse mlmodel: ", tt.says)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %q", err, tt.is)
			}
		})
	}
}

// mlmodelMergeBomb nests merge keys so that every level merges the one
// before ten times, and every mapping has a single empty key.
func mlmodelMergeBomb() []byte {
	var sb strings.Builder
	sb.WriteString("m0: &m0 {'': 1}\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&sb, "m%d: &m%d {<<: [*m%d%s]}\n", i, i, i-1, strings.Repeat(fmt.Sprintf(", *m%d", i-1), 9))
	}
	return []byte(sb.String())
}

// TestParseMLmodelLargeFiles shows that files of MaxSize without
// aliases, in the densest shapes YAML has, fit the work budget.
func TestParseMLmodelLargeFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("parses seven 1 MiB files")
	}
	pad := func(head, unit, tail string) []byte {
		n := (MaxSize - len(head) - len(tail) - 1) / len(unit)
		b := []byte(head + strings.Repeat(unit, n) + tail)
		return append(b, strings.Repeat(" ", MaxSize-len(b)-1)+"\n"...)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"one long signature string", pad("signature:\n  inputs: '", "x", "'\n")},
		{"many block sequence items", pad("metadata:\n", "- 1\n", "")},
		{"many flow sequence items", pad("metadata: [", "1,", "1]\n")},
		{"many flow mapping keys", mlmodelManyKeys()},
		{"many null block items", pad("metadata:\n", "-\n", "")},
		{"many empty flow sequences", pad("metadata: [", "[],", "[]]\n")},
		{"many aliases to a short anchor", pad("a: &a x\nb: [", "*a,", "*a]\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.in) != MaxSize {
				t.Fatalf("input is %d bytes, want %d", len(tt.in), MaxSize)
			}
			start := time.Now()
			m, err := Parse(tt.in)
			t.Logf("parsed in %v", time.Since(start))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := json.Marshal(m); err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(append(tt.in, '\n')); !errors.Is(err, ErrTooLarge) {
				t.Errorf("one byte more: error %v, want %v", err, ErrTooLarge)
			}
		})
	}
}

// mlmodelManyKeys is a MaxSize flow mapping of distinct keys
// without values.
func mlmodelManyKeys() []byte {
	b := []byte("metadata: {")
	for i := 0; len(b) < MaxSize-20; i++ {
		b = strconv.AppendInt(b, int64(i), 36)
		b = append(b, ',')
	}
	b = append(b, "_}\n"...)
	return append(b, strings.Repeat(" ", MaxSize-len(b)-1)+"\n"...)
}

func FuzzParseMLmodel(f *testing.F) {
	entries, err := os.ReadDir(mlmodelFixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(readMLmodelFixture(f, e.Name()))
	}
	for _, s := range []string{
		"common: &c {a: 1}\nflavors: {x: {<<: *c, b: .nan}}\n",
		"1: x\n? !!binary aGk=\n: 2\nutc_time_created: 2026-11-27 21:43:35\n",
		"signature: {inputs: null, outputs: '[]'}\nmetadata: {n: 9007199254740993, f: -.inf}\n",
		string(mlmodelAliasBomb(4, 4, "x")),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !reflect.DeepEqual(m, raftfsm.Model{}) || !strings.HasPrefix(err.Error(), "parse mlmodel: ") {
				t.Fatalf("error %q with model %#v", err, m)
			}
			return
		}
		checkMLmodelRoundTrip(t, m)
	})
}
