package raftfsm

import (
	"regexp"
	"testing"

	"cairn/cas"
)

// modelFolder is the five files MLflow logs for one model of run, the
// booster shared with other runs.
func modelFolder(run string, booster File, time int64) []PutObject {
	dir := "1/" + run + "/artifacts/model/"
	put := func(name string, f File) PutObject {
		return PutObject{Bucket: "bkt", Key: dir + name, File: f, Time: time, Meta: ObjectMeta{ETag: `"` + name + `"`}}
	}
	ml := put("MLmodel", smallFile("mlmodel of "+run))
	ml.Model = &Model{RunID: run, ArtifactPath: "model", ModelUUID: "u-" + run,
		Flavors: map[string]map[string]any{"xgboost": {"data": "model.xgb"}}}
	return []PutObject{
		ml,
		put("conda.yaml", smallFile("conda")),
		put("python_env.yaml", smallFile("python_env")),
		put("requirements.txt", smallFile("requirements")),
		put("model.xgb", booster),
	}
}

// indexes matches the Raft indexes the state records (of an object, and
// the value of a file's zero-reference entry), which differ between one
// entry and several.
var indexes = regexp.MustCompile(`\\"index\\":\d+|(?m)^("z[^\n]*")=".*"$`)

// TestPutObjects_SameAsOneByOne proves that a PutObjects leaves the state
// exactly as the same PutObject commands applied one after the other would
// (the Raft index each object records aside): new keys, a key overwritten,
// a file shared with another run (reference counts), the run and model
// indexes, and the counters.
func TestPutObjects_SameAsOneByOne(t *testing.T) {
	booster := fileOf(chunkOf("b1", 4<<10), chunkOf("b2", 3<<10))
	const runB = "fedcba9876543210fedcba9876543210"
	setup := func() *testFSM {
		h := newTestFSM(t)
		h.ok(t, &CreateBucket{Bucket: "bkt", Time: 1})
		for _, p := range modelFolder(runA, booster, 2) {
			h.ok(t, &p)
		}
		// runB's conda.yaml and MLmodel exist already, with other bytes.
		h.ok(t, &PutObject{Bucket: "bkt", Key: "1/" + runB + "/artifacts/model/conda.yaml", File: smallFile("old conda"), Time: 2})
		h.ok(t, &PutObject{Bucket: "bkt", Key: "1/" + runB + "/artifacts/model/MLmodel", File: smallFile("old mlmodel"), Time: 2,
			Model: &Model{RunID: runB, ModelUUID: "old", Flavors: map[string]map[string]any{"sklearn": {}}}})
		return h
	}
	puts := modelFolder(runB, booster, 3)
	puts[4].Conditions = Conditions{IfNoneMatch: "*"}

	one, batch := setup(), setup()
	for _, p := range puts {
		one.ok(t, &p)
	}
	r := batch.ok(t, &PutObjects{Bucket: "bkt", Objects: puts})
	if len(r.Objects) != len(puts) {
		t.Fatalf("result holds %d objects, want %d", len(r.Objects), len(puts))
	}
	for i, o := range r.Objects {
		if o.Key != puts[i].Key || o.Digest != puts[i].File.Digest || o.Index != r.Index {
			t.Errorf("result %d: %s %s at %d, want %s %s at %d", i, o.Key, o.Digest.Short(), o.Index, puts[i].Key, puts[i].File.Digest.Short(), r.Index)
		}
	}
	a, b := one.dump(t), batch.dump(t)
	if a == b {
		t.Fatal("the dumps are equal before the indexes are removed: the comparison below would prove nothing about them")
	}
	if a, b := indexes.ReplaceAllString(a, "${1}INDEX"), indexes.ReplaceAllString(b, "${1}INDEX"); a != b {
		t.Fatalf("one PutObjects left another state than its PutObject one by one:\n%s", diffDump(a, b))
	}
	if got := fileRefs(t, batch.s, booster.Digest); got != 2 {
		t.Errorf("booster referenced %d times, want 2", got)
	}
	if st := mustStats(t, batch.s); st.Objects != 10 {
		t.Errorf("%d objects, want 10", st.Objects)
	}
	if m := mustModel(t, batch.s, "bkt", puts[0].Key); m.Model.ModelUUID != "u-"+runB || len(m.Model.EnvFiles) != 3 {
		t.Errorf("model entry %+v, want the new MLmodel's with its three environment files", m.Model)
	}
	runs, err := batch.s.Run(runB)
	if err != nil || len(runs) != 1 {
		t.Fatalf("run %s: %v, %v", runB, runs, err)
	}
}

// TestPutObjects_AllOrNone proves that a PutObjects that fails any check,
// whichever of its objects fails it, is rejected whole and changes
// nothing (the helper compares dumps).
func TestPutObjects_AllOrNone(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt", Time: 1})
	h.ok(t, &CreateBucket{Bucket: "other", Time: 1})
	h.ok(t, &PutObject{Bucket: "bkt", Key: "1/" + runA + "/artifacts/model/model.xgb", File: smallFile("v1"), Meta: ObjectMeta{ETag: `"e1"`}, Time: 2})
	const runB = "fedcba9876543210fedcba9876543210"
	good := func() []PutObject { return modelFolder(runB, smallFile("booster"), 3) }
	with := func(i int, change func(*PutObject)) []PutObject {
		ps := good()
		change(&ps[i])
		return ps
	}
	tooMany := make([]PutObject, MaxPutObjects+1)
	for i := range tooMany {
		tooMany[i] = PutObject{Bucket: "bkt", Key: "k" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)), File: smallFile("x")}
	}
	bigRecipe := make(cas.Recipe, MaxChunksPerFile/2+1)
	for i := range bigRecipe {
		bigRecipe[i] = chunkOf("c", 1)
	}
	big := fileOf(bigRecipe...)
	cases := []struct {
		name string
		cmd  *PutObjects
		want error
	}{
		{"Empty", &PutObjects{Bucket: "bkt"}, ErrInvalidCommand},
		{"TooMany", &PutObjects{Bucket: "bkt", Objects: tooMany}, ErrInvalidCommand},
		{"NoSuchBucket", &PutObjects{Bucket: "nope", Objects: []PutObject{{Bucket: "nope", Key: "k", File: smallFile("x")}}}, ErrNoSuchBucket},
		{"OtherBucket", &PutObjects{Bucket: "bkt", Objects: with(3, func(p *PutObject) { p.Bucket = "other" })}, ErrInvalidCommand},
		{"KeyTwice", &PutObjects{Bucket: "bkt", Objects: with(4, func(p *PutObject) { p.Key = good()[1].Key })}, ErrInvalidCommand},
		{"BadKey", &PutObjects{Bucket: "bkt", Objects: with(2, func(p *PutObject) { p.Key = "a\x00b" })}, ErrInvalidCommand},
		{"TooManyChunksTogether", &PutObjects{Bucket: "bkt", Objects: append(with(1, func(p *PutObject) { p.File = big })[:2:2],
			PutObject{Bucket: "bkt", Key: "also-big", File: big})}, ErrTooLarge},
		{"IfNoneMatchLast", &PutObjects{Bucket: "bkt", Objects: append(good(),
			PutObject{Bucket: "bkt", Key: "1/" + runA + "/artifacts/model/model.xgb", File: smallFile("v2"), Conditions: Conditions{IfNoneMatch: "*"}})}, ErrPreconditionFailed},
		{"IfMatchAbsent", &PutObjects{Bucket: "bkt", Objects: with(2, func(p *PutObject) { p.Conditions.IfMatch = `"e1"` })}, ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { h.reject(t, c.cmd, c.want) })
	}
	// The same folder, checks passing, goes in whole.
	r := h.ok(t, &PutObjects{Bucket: "bkt", Objects: good()})
	if len(r.Objects) != 5 || mustStats(t, h.s).Objects != 6 {
		t.Fatalf("%d objects in the result, %d in the state; want 5 and 6", len(r.Objects), mustStats(t, h.s).Objects)
	}
}

func mustModel(tb testing.TB, s *State, bucket, key string) ModelEntry {
	tb.Helper()
	ms, err := s.Models(ModelFilter{Bucket: bucket})
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range ms {
		if m.Key == key {
			return m
		}
	}
	tb.Fatalf("no model entry for %s/%s among %d", bucket, key, len(ms))
	return ModelEntry{}
}
