package raftfsm

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cairn/cas"
)

const (
	runA   = "0123456789abcdef0123456789abcdef"
	runB   = "fedcba9876543210fedcba9876543210"
	modelA = "m-00112233445566778899aabbccddeeff"
)

// TestParseLayout covers MLflow's run and logged-model layouts under any
// root, and look-alikes that must not match.
func TestParseLayout(t *testing.T) {
	cases := []struct {
		key  string
		want Layout
		ok   bool
	}{
		{"0/" + runA + "/artifacts/model.xgb", Layout{"run", runA, "0", "0/" + runA + "/artifacts/", "model.xgb"}, true},
		{"mlartifacts/5/" + runA + "/artifacts/model/MLmodel", Layout{"run", runA, "5", "mlartifacts/5/" + runA + "/artifacts/", "model/MLmodel"}, true},
		{"a/b/c/123/" + runA + "/artifacts/x/y/z", Layout{"run", runA, "123", "a/b/c/123/" + runA + "/artifacts/", "x/y/z"}, true},
		{"7/" + runA + "/artifacts/dir/", Layout{"run", runA, "7", "7/" + runA + "/artifacts/", "dir/"}, true},
		{"1/models/" + modelA + "/artifacts/MLmodel", Layout{"model", modelA, "1", "1/models/" + modelA + "/artifacts/", "MLmodel"}, true},
		{"root/1/models/" + modelA + "/artifacts/a/b", Layout{"model", modelA, "1", "root/1/models/" + modelA + "/artifacts/", "a/b"}, true},
		// The first match from the left wins.
		{"1/" + runA + "/artifacts/2/" + runB + "/artifacts/x", Layout{"run", runA, "1", "1/" + runA + "/artifacts/", "2/" + runB + "/artifacts/x"}, true},
		// Look-alikes.
		{"0/" + runA[:31] + "/artifacts/x", Layout{}, false},
		{"0/" + runA + "0/artifacts/x", Layout{}, false},
		{"0/" + strings.ToUpper(runA) + "/artifacts/x", Layout{}, false},
		{"0/" + runA[:31] + "g/artifacts/x", Layout{}, false},
		{"0/" + runA + "/artifacts/", Layout{}, false},
		{"0/" + runA + "/artifacts", Layout{}, false},
		{"0/" + runA + "/artifact/x", Layout{}, false},
		{"/" + runA + "/artifacts/x", Layout{}, false},
		{"root//" + runA + "/artifacts/x", Layout{}, false},
		{runA + "/artifacts/x", Layout{}, false},
		{"models/" + modelA + "/artifacts/x", Layout{}, false},
		{"/models/" + modelA + "/artifacts/x", Layout{}, false},
		{"1/model/" + modelA + "/artifacts/x", Layout{}, false},
		{"1/models/" + modelA[:33] + "/artifacts/x", Layout{}, false},
		{"1/models/M-" + modelA[2:] + "/artifacts/x", Layout{}, false},
		{"1/models/" + modelA + "/artifacts/", Layout{}, false},
		{"", Layout{}, false},
		{"artifacts/x", Layout{}, false},
	}
	for _, tc := range cases {
		got, ok := ParseLayout(tc.key)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseLayout(%q) = %+v, %v; want %+v, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

// TestValidKey covers the key and bucket name rules Apply enforces.
func TestValidKey(t *testing.T) {
	for k, ok := range map[string]bool{
		"a": true, "a/b/": true, "é/\u00ff/\U0010ffff": true, strings.Repeat("k", MaxKeyLength): true,
		"": false, "a\x00": false, "a\xffb": false, "\xc3": false, strings.Repeat("k", MaxKeyLength+1): false,
	} {
		if got := ValidKey(k) == ""; got != ok {
			t.Errorf("ValidKey(%q) = %q", k, ValidKey(k))
		}
	}
	for name, ok := range map[string]bool{
		"abc": true, "my.bucket-1": true, strings.Repeat("a", 63): true,
		"ab": false, strings.Repeat("a", 64): false, "Abc": false, "-abc": false, "abc.": false, "a..b": false, "a_b": false,
	} {
		if ValidBucketName(name) != ok {
			t.Errorf("ValidBucketName(%q) = %v", name, !ok)
		}
	}
}

func modelEntry(t *testing.T, s *State, bucket, key string) ModelEntry {
	t.Helper()
	e, err := s.ModelAt(bucket, key)
	if err != nil {
		t.Fatalf("model at %s/%s: %v", bucket, key, err)
	}
	return e
}

func checkEnv(t *testing.T, s *State, bucket, key string, want map[string]cas.Digest) {
	t.Helper()
	got := modelEntry(t, s, bucket, key).Model.EnvFiles
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("env files of %s\n got %v\nwant %v", key, got, want)
	}
}

func runsOf(t *testing.T, s *State, id string) []Run {
	t.Helper()
	rs, err := s.Run(id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestModelIndex proves that the model index follows MLmodel files and
// the environment files beside them, whichever comes first, and that the
// run index counts each run's artifacts.
func TestModelIndex(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "mlflow"})
	h.ok(t, &CreateBucket{Bucket: "other"})
	dir := "3/" + runA + "/artifacts/model/"
	put := func(key, content string, m *Model) File {
		f := smallFile(content)
		h.ok(t, &PutObject{Bucket: "mlflow", Key: key, File: f, Time: 5_000_000, Model: m})
		return f
	}
	conda := put(dir+"conda.yaml", "conda v1", nil)
	pyenv := put(dir+"python_env.yaml", "python env", nil)
	model := &Model{
		RunID: runA, ArtifactPath: "model", ModelUUID: "uuid-1", MLflowVersion: "2.17.0",
		UTCTimeCreated: "2026-11-27 21:43:35.476920", CreatedUnixMilli: 1_800_000_000_000,
		Flavors: map[string]map[string]any{"python_function": {"loader_module": "mlflow.xgboost"}, "xgboost": {"xgb_version": "2.1.0"}},
	}
	put(dir+"MLmodel", "MLmodel v1", model)
	e := modelEntry(t, h.s, "mlflow", dir+"MLmodel")
	if e.RunID != runA || e.ExperimentID != "3" || e.Dir != dir || e.Bucket != "mlflow" || e.Model.ModelUUID != "uuid-1" ||
		e.Model.Flavors["xgboost"]["xgb_version"] != "2.1.0" {
		t.Fatalf("model entry %+v", e)
	}
	checkEnv(t, h.s, "mlflow", dir+"MLmodel", map[string]cas.Digest{"conda.yaml": conda.Digest, "python_env.yaml": pyenv.Digest})

	// Written after the MLmodel, an env file joins it; beside it only.
	req := put(dir+"requirements.txt", "xgboost==2.1.0", nil)
	put(dir+"sub/conda.yaml", "elsewhere", nil)
	put("3/"+runA+"/artifacts/conda.yaml", "above", nil)
	h.ok(t, &PutObject{Bucket: "other", Key: dir + "conda.yaml", File: smallFile("other bucket")})
	want := map[string]cas.Digest{"conda.yaml": conda.Digest, "python_env.yaml": pyenv.Digest, "requirements.txt": req.Digest}
	checkEnv(t, h.s, "mlflow", dir+"MLmodel", want)

	// Overwritten, it moves; deleted, it goes.
	conda2 := put(dir+"conda.yaml", "conda v2", nil)
	want["conda.yaml"] = conda2.Digest
	checkEnv(t, h.s, "mlflow", dir+"MLmodel", want)
	h.ok(t, &DeleteObject{Bucket: "mlflow", Key: dir + "python_env.yaml"})
	delete(want, "python_env.yaml")
	checkEnv(t, h.s, "mlflow", dir+"MLmodel", want)

	// Lookups by id.
	if e, err := h.s.ModelByID("uuid-1"); err != nil || e.Key != dir+"MLmodel" {
		t.Fatalf("by uuid: %+v, %v", e, err)
	}
	// The run record counts the run's artifacts.
	rs := runsOf(t, h.s, runA)
	wantRun := Run{RunID: runA, ExperimentID: "3", Bucket: "mlflow", Root: "3/" + runA + "/artifacts/", Kind: "run",
		Files: 5, Bytes: int64(len("conda v2") + len("MLmodel v1") + len("xgboost==2.1.0") + len("elsewhere") + len("above")),
		First: 5_000_000, Last: 5_000_000}
	if len(rs) != 2 {
		t.Fatalf("runs of %s: %+v", runA, rs)
	}
	// Sorted by bucket: mlflow, then other.
	if rs[0].Bucket != "mlflow" || rs[1].Bucket != "other" || rs[1].Files != 1 {
		t.Fatalf("runs %+v", rs)
	}
	if rs[0] != wantRun {
		t.Fatalf("run\n got %+v\nwant %+v", rs[0], wantRun)
	}
	if got := runsOf(t, h.s, runA[:10]); got != nil {
		t.Fatalf("a prefix of a run id found %+v", got)
	}

	// Overwritten with another uuid, the old id no longer resolves.
	model2 := *model
	model2.ModelUUID = "uuid-2"
	put(dir+"MLmodel", "MLmodel v2", &model2)
	if _, err := h.s.ModelByID("uuid-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old uuid after overwrite: %v", err)
	}
	if e, err := h.s.ModelByID("uuid-2"); err != nil || e.Key != dir+"MLmodel" {
		t.Fatalf("new uuid: %+v, %v", e, err)
	}
	checkEnv(t, h.s, "mlflow", dir+"MLmodel", want)

	// An MLflow 3 logged model: by model_id and by uuid.
	mdir := "3/models/" + modelA + "/artifacts/"
	h.ok(t, &PutObject{Bucket: "mlflow", Key: mdir + "MLmodel", File: smallFile("logged"), Time: 7_000_000,
		Model: &Model{ModelID: modelA, ModelUUID: "uuid-3", RunID: runB, Flavors: map[string]map[string]any{"sklearn": {}}}})
	for _, id := range []string{modelA, "uuid-3"} {
		if e, err := h.s.ModelByID(id); err != nil || e.Key != mdir+"MLmodel" || e.RunID != runB {
			t.Fatalf("logged model by %s: %+v, %v", id, e, err)
		}
	}
	if rs := runsOf(t, h.s, modelA); len(rs) != 1 || rs[0].Kind != "model" || rs[0].Root != mdir || rs[0].ExperimentID != "3" {
		t.Fatalf("logged model run record %+v", rs)
	}

	// Filters.
	models := func(f ModelFilter) []string {
		t.Helper()
		ms, err := h.s.Models(f)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, m := range ms {
			keys = append(keys, m.Key)
		}
		return keys
	}
	runModel, logged := []string{dir + "MLmodel"}, []string{mdir + "MLmodel"}
	both := []string{dir + "MLmodel", mdir + "MLmodel"}
	for _, fc := range []struct {
		f    ModelFilter
		want []string
	}{
		{ModelFilter{}, both},
		{ModelFilter{Bucket: "mlflow"}, both},
		{ModelFilter{Bucket: "other"}, nil},
		{ModelFilter{Flavor: "xgboost"}, runModel},
		{ModelFilter{Flavor: "sklearn"}, logged},
		{ModelFilter{Flavor: "onnx"}, nil},
		{ModelFilter{RunID: runB}, logged},
		{ModelFilter{ID: "uuid-2"}, runModel},
		{ModelFilter{ID: modelA}, logged},
		{ModelFilter{CreatedAfter: 1_800_000_000_000}, runModel}, // created time from the file
		{ModelFilter{CreatedBefore: 1_800_000_000_000}, logged},  // falls back to the write time
		{ModelFilter{CreatedAfter: 7, CreatedBefore: 8}, logged}, // 7e6 ns = 7 ms
		{ModelFilter{Limit: 1}, runModel},
	} {
		if got := models(fc.f); !reflect.DeepEqual(got, fc.want) {
			t.Errorf("Models(%+v) = %v, want %v", fc.f, got, fc.want)
		}
	}
	if rs, err := h.s.Runs(RunFilter{Kind: "model"}); err != nil || len(rs) != 1 || rs[0].RunID != modelA {
		t.Fatalf("runs of kind model: %+v, %v", rs, err)
	}
	if rs, err := h.s.Runs(RunFilter{Bucket: "other"}); err != nil || len(rs) != 1 {
		t.Fatalf("runs in other: %+v, %v", rs, err)
	}
	if rs, err := h.s.Runs(RunFilter{ExperimentID: "3", Limit: 2}); err != nil || len(rs) != 2 {
		t.Fatalf("runs of experiment 3: %+v, %v", rs, err)
	}

	// An MLmodel that did not parse is indexed with the reason, and only
	// shows when asked for.
	bad := "3/" + runB + "/artifacts/broken/MLmodel"
	h.ok(t, &PutObject{Bucket: "mlflow", Key: bad, File: smallFile("{"), Model: &Model{Error: "yaml: line 1"}})
	if e := modelEntry(t, h.s, "mlflow", bad); e.Model.Error == "" || e.RunID != runB {
		t.Fatalf("unparsed model %+v", e)
	}
	if got := models(ModelFilter{RunID: runB}); !reflect.DeepEqual(got, logged) {
		t.Fatalf("errors listed by default: %v", got)
	}
	if got := models(ModelFilter{RunID: runB, IncludeErrors: true}); len(got) != 2 {
		t.Fatalf("errors not listed when asked: %v", got)
	}
	// A file named MLmodel written without a parsed model is not indexed.
	h.ok(t, &PutObject{Bucket: "mlflow", Key: "misc/MLmodel", File: smallFile("?")})
	if _, err := h.s.ModelAt("mlflow", "misc/MLmodel"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unparsed MLmodel indexed: %v", err)
	}

	// Deleted, the MLmodel leaves the index and its ids; the run record
	// goes with the run's last artifact.
	h.ok(t, &DeleteObject{Bucket: "mlflow", Key: dir + "MLmodel"})
	if _, err := h.s.ModelAt("mlflow", dir+"MLmodel"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted model: %v", err)
	}
	if _, err := h.s.ModelByID("uuid-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted model's uuid: %v", err)
	}
	if rs := runsOf(t, h.s, runA); rs[0].Files != 4 {
		t.Fatalf("run after one delete %+v", rs[0])
	}
	h.ok(t, &DeletePrefix{Bucket: "mlflow", Prefix: "3/" + runA + "/"})
	if rs := runsOf(t, h.s, runA); len(rs) != 1 || rs[0].Bucket != "other" {
		t.Fatalf("run records after deleting the run in one bucket: %+v", rs)
	}
	h.ok(t, &DeleteObject{Bucket: "other", Key: dir + "conda.yaml"})
	if rs := runsOf(t, h.s, runA); rs != nil {
		t.Fatalf("run records after its last artifact: %+v", rs)
	}
	h.ok(t, &DeleteObject{Bucket: "mlflow", Key: mdir + "MLmodel"})
	for _, id := range []string{modelA, "uuid-3"} {
		if _, err := h.s.ModelByID(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted logged model by %s: %v", id, err)
		}
	}
	if rs := runsOf(t, h.s, modelA); rs != nil {
		t.Fatalf("logged model's record after its last artifact: %+v", rs)
	}
}

// TestModelIndex_Copies proves that an MLmodel copied to another key
// (same model_uuid, as registering a model version may copy it) keeps
// both indexed, the copy with its own env files, and that deleting one
// copy leaves the other resolvable by id.
func TestModelIndex_Copies(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "mlflow"})
	src := "1/" + runA + "/artifacts/model/"
	dst := "registry/prod/"
	conda := smallFile("conda")
	h.ok(t, &PutObject{Bucket: "mlflow", Key: src + "conda.yaml", File: conda})
	m := &Model{RunID: runA, ModelUUID: "uuid-x", Flavors: map[string]map[string]any{"xgboost": {}}}
	h.ok(t, &PutObject{Bucket: "mlflow", Key: src + "MLmodel", File: smallFile("MLmodel"), Model: m, Time: 1})
	// A server-side copy: the command carries no parsed model.
	h.ok(t, &CopyObject{SrcBucket: "mlflow", SrcKey: src + "MLmodel", Bucket: "mlflow", Key: dst + "MLmodel", Time: 2})
	e := modelEntry(t, h.s, "mlflow", dst+"MLmodel")
	if e.Model.ModelUUID != "uuid-x" || e.RunID != runA || len(e.Model.EnvFiles) != 0 {
		t.Fatalf("copied model %+v", e)
	}
	h.ok(t, &CopyObject{SrcBucket: "mlflow", SrcKey: src + "conda.yaml", Bucket: "mlflow", Key: dst + "conda.yaml"})
	checkEnv(t, h.s, "mlflow", dst+"MLmodel", map[string]cas.Digest{"conda.yaml": conda.Digest})
	h.ok(t, &DeleteObject{Bucket: "mlflow", Key: dst + "MLmodel"})
	if e, err := h.s.ModelByID("uuid-x"); err != nil || e.Key != src+"MLmodel" {
		t.Fatalf("after deleting the copy: %+v, %v", e, err)
	}
	h.ok(t, &DeleteObject{Bucket: "mlflow", Key: src + "MLmodel"})
	if _, err := h.s.ModelByID("uuid-x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after deleting both: %v", err)
	}
}

// TestTopRuns: the n largest runs, largest first and ties by id, the same
// as sorting every run, for n below, at and above the number of runs.
func TestTopRuns(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "mlflow"})
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("%032x", 1000+i)
		ids = append(ids, id)
		// Sizes repeat, so that ties are decided by id.
		size := uint32(100 * (1 + i%5))
		h.ok(t, &PutObject{Bucket: "mlflow", Key: "1/" + id + "/artifacts/model.bin",
			File: fileOf(chunkOf(id, size))})
	}
	all, err := h.s.Runs(RunFilter{})
	if err != nil || len(all) != len(ids) {
		t.Fatalf("%d runs, %v", len(all), err)
	}
	slices.SortFunc(all, func(a, b Run) int {
		if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
			return c
		}
		return strings.Compare(a.RunID, b.RunID)
	})
	for _, n := range []int{0, 1, 5, 12, 20} {
		got, err := h.s.TopRuns(n)
		if err != nil {
			t.Fatal(err)
		}
		want := all[:min(n, len(all))]
		if len(got) != len(want) {
			t.Fatalf("TopRuns(%d): %d runs, want %d", n, len(got), len(want))
		}
		for i := range want {
			if got[i].RunID != want[i].RunID || got[i].Bytes != want[i].Bytes {
				t.Fatalf("TopRuns(%d)[%d] = %s (%d bytes), want %s (%d)", n, i, got[i].RunID, got[i].Bytes, want[i].RunID, want[i].Bytes)
			}
		}
	}
	if all[0].Bytes != 500 || all[0].RunID != ids[4] {
		t.Fatalf("the largest run is %s with %d bytes", all[0].RunID, all[0].Bytes)
	}
}
