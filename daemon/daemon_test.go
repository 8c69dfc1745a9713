package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/bench/boosters"
	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/client"
)

// newTestServer starts a single node on loopback with short Raft timeouts
// and no GC loop, and waits until it is ready. These tests are about what
// a node does, not about who may ask it: requests without credentials may
// do anything (Anonymous "all"), and S3 signs with the seeded admin key
// testkey. The tests of who may do what (auth_test.go) set Anonymous back
// to "".
func newTestServer(t testing.TB, mutate ...func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", Anonymous: "all",
		S3Keys:           []S3Key{{AccessKey: "testkey", SecretKey: "testsecret"}},
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		GCInterval: -1,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitReady(t, srv.URL())
	return srv
}

func waitReady(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		<-tick.C
	}
	t.Fatalf("%s not ready", base)
}

// call makes a request and decodes a JSON answer into out (when non-nil),
// returning the status.
func call(t testing.TB, method, u string, body io.Reader, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, u, b, err)
		}
	}
	return resp.StatusCode
}

func objURL(srv *Server, bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return srv.URL() + "/v1/objects/" + bucket + "/" + strings.Join(segs, "/")
}

func putBytes(t testing.TB, srv *Server, bucket, key string, b []byte) client.PutResult {
	t.Helper()
	var res client.PutResult
	if st := call(t, http.MethodPut, objURL(srv, bucket, key), bytes.NewReader(b), &res); st != 200 {
		t.Fatalf("put %s/%s: status %d", bucket, key, st)
	}
	return res
}

func mkBucket(t testing.TB, srv *Server, name string) {
	t.Helper()
	if st := call(t, http.MethodPut, srv.URL()+"/v1/buckets/"+name, nil, nil); st != 200 {
		t.Fatalf("create bucket %s: %d", name, st)
	}
}

// seedModel returns the files mlflow.xgboost.log_model writes for the seed
// model, keyed by their path under the model folder.
func seedModel(t testing.TB, runID string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	env, err := boosters.EnvDir()
	if err != nil {
		t.Fatalf("seed data: %v", err)
	}
	for _, name := range []string{"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt"} {
		b, err := os.ReadFile(filepath.Join(env, name))
		if err != nil {
			t.Fatalf("seed data: %v", err)
		}
		files[name] = b
	}
	// Each run's MLmodel names its own run.
	files["MLmodel"] = bytes.Replace(files["MLmodel"], []byte("905eefe8ef2a42b6bf2c56e07eae026d"), []byte(runID), 1)
	booster, err := boosters.Read("m", "model", "xgb")
	if err != nil {
		t.Fatal(err)
	}
	files["model.xgb"] = booster
	return files
}

const (
	run1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
	run2 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
)

// logRun writes a run the way MLflow's seed script does: the model under
// models_mlflow/ and the booster again under my_best_model/.
func logRun(t testing.TB, srv *Server, runID string) {
	root := "1/" + runID + "/artifacts/"
	files := seedModel(t, runID)
	for name, b := range files {
		putBytes(t, srv, "mlflow", root+"models_mlflow/"+name, b)
	}
	putBytes(t, srv, "mlflow", root+"my_best_model/model.xgb", files["model.xgb"])
}

func TestServer_TwoRunsStoreOnce(t *testing.T) {
	srv := newTestServer(t)
	mkBucket(t, srv, "mlflow")
	logRun(t, srv, run1)
	first, _ := srv.Store().Stats(t.Context())
	logRun(t, srv, run2)
	second, _ := srv.Store().Stats(t.Context())

	files := seedModel(t, run2)
	// The second run adds only its own MLmodel: one small chunk.
	if grew := second.LogicalBytes - first.LogicalBytes; grew != int64(len(files["MLmodel"])) {
		t.Fatalf("second run grew the store by %d logical bytes, want %d (its MLmodel)", grew, len(files["MLmodel"]))
	}
	var st client.Stats
	call(t, http.MethodGet, srv.URL()+"/v1/stats", nil, &st)
	booster := files["model.xgb"]
	// Every distinct byte once: one booster, one set of env files, two
	// MLmodels (each names its run).
	var logical, unique int64
	for name, b := range files {
		copies := int64(2)
		if name == "model.xgb" {
			copies = 4
		}
		logical += copies * int64(len(b))
		unique += int64(len(b))
	}
	// The two MLmodels differ only in their run IDs, of one length.
	unique += int64(len(seedModel(t, run1)["MLmodel"]))
	if st.LogicalBytes != logical || st.UniqueBytes != unique {
		t.Fatalf("stats %+v: want %d logical and %d unique bytes", st, logical, unique)
	}
	if want := float64(logical) / float64(unique); st.DedupRatio != want || want < 3.9 {
		t.Fatalf("dedup ratio %.4f, want %.4f (logical / unique)", st.DedupRatio, want)
	}
	// The largest runs: the two are the same size, so the tie goes by id.
	if len(st.Runs) != 2 || st.Runs[0].RunID != run1 || st.Runs[1].RunID != run2 || st.Runs[0].Bytes != logical/2 || st.Runs[1].Bytes != logical/2 {
		t.Fatalf("top runs %+v: want %s then %s, %d bytes each", st.Runs, run1, run2, logical/2)
	}
	var boosterShare *client.SharedFile
	for i, f := range st.Shared {
		if f.Size == int64(len(booster)) {
			boosterShare = &st.Shared[i]
		}
	}
	if boosterShare == nil || boosterShare.Refs != 4 || len(boosterShare.Runs) != 2 {
		t.Fatalf("shared files %+v: want the booster with 4 refs across both runs", st.Shared)
	}
	for _, env := range []string{"conda.yaml", "python_env.yaml", "requirements.txt"} {
		found := false
		for _, f := range st.Shared {
			found = found || (f.Refs == 2 && f.Size == int64(len(files[env])) && strings.Contains(strings.Join(f.Keys, " "), env))
		}
		if !found {
			t.Errorf("stats do not list %s as shared by both runs", env)
		}
	}

	var res client.Resolved
	if code := call(t, http.MethodGet, srv.URL()+"/v1/resolve?uri="+url.QueryEscape("runs:/"+run1+"/models_mlflow"), nil, &res); code != 200 || !res.IsDir || res.Key != "1/"+run1+"/artifacts/models_mlflow/" {
		t.Fatalf("resolve runs:/ = %d %+v", code, res)
	}
	call(t, http.MethodGet, srv.URL()+"/v1/resolve?uri="+url.QueryEscape("runs:/"+run2+"/models_mlflow/model.xgb"), nil, &res)
	if res.Object == nil || res.Object.Size != int64(len(booster)) {
		t.Fatalf("resolve runs:/.../model.xgb = %+v", res)
	}
	var models []client.Model
	call(t, http.MethodGet, srv.URL()+"/v1/models?flavor=xgboost", nil, &models)
	if len(models) != 2 {
		t.Fatalf("models with the xgboost flavor: %d, want 2", len(models))
	}
	for _, m := range models {
		if m.Flavors["xgboost"]["xgb_version"] != "1.7.4" || m.Flavors["python_function"]["loader_module"] != "mlflow.xgboost" {
			t.Fatalf("model flavors %v", m.Flavors)
		}
		if len(m.EnvFiles) != 3 {
			t.Fatalf("model %s env files %v, want 3", m.RunID, m.EnvFiles)
		}
	}
	var runs []client.Run
	call(t, http.MethodGet, srv.URL()+"/v1/runs", nil, &runs)
	if len(runs) != 2 || runs[0].Files != 6 {
		t.Fatalf("runs %+v", runs)
	}
}

func TestServer_ReadBack(t *testing.T) {
	srv := newTestServer(t)
	mkBucket(t, srv, "bk1")
	data := bytes.Repeat([]byte("0123456789abcdef"), 100000)
	put := putBytes(t, srv, "bk1", "dir/file.bin", data)
	if put.Digest != chunkSum(data) || put.Size != int64(len(data)) {
		t.Fatalf("put answered %+v", put)
	}
	get := func(h map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, objURL(srv, "bk1", "dir/file.bin"), nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := get(nil)
	if resp.StatusCode != 200 || !bytes.Equal(b, data) || resp.Header.Get("X-Cairn-Digest") != put.Digest.String() {
		t.Fatalf("get: %d, %d bytes", resp.StatusCode, len(b))
	}
	resp, b = get(map[string]string{"Range": "bytes=1000-1999"})
	if resp.StatusCode != 206 || !bytes.Equal(b, data[1000:2000]) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(data)) {
		t.Fatalf("range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp, _ = get(map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(data))})
	if resp.StatusCode != 416 {
		t.Fatalf("unsatisfiable range: %d", resp.StatusCode)
	}
	resp, b = get(map[string]string{"If-None-Match": put.ETag})
	if resp.StatusCode != 304 || len(b) != 0 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	resp, _ = get(map[string]string{"If-Match": `"other"`})
	if resp.StatusCode != 412 {
		t.Fatalf("If-Match mismatch: %d", resp.StatusCode)
	}
	// A conditional create refuses an existing key.
	req, _ := http.NewRequest(http.MethodPut, objURL(srv, "bk1", "dir/file.bin"), strings.NewReader("other"))
	req.Header.Set("If-None-Match", "*")
	r2, err := http.DefaultClient.Do(req)
	if err != nil || r2.StatusCode != 412 {
		t.Fatalf("If-None-Match: * on an existing key: %v %v", r2.StatusCode, err)
	}
	r2.Body.Close()
	var list client.ListResult
	call(t, http.MethodGet, srv.URL()+"/v1/objects/bk1?prefix=dir/&delimiter=/", nil, &list)
	if len(list.Objects) != 1 || list.Objects[0].Key != "dir/file.bin" {
		t.Fatalf("list %+v", list)
	}
	var del client.DeleteResult
	call(t, http.MethodDelete, objURL(srv, "bk1", "dir/file.bin"), nil, &del)
	if del.Deleted != 1 {
		t.Fatalf("delete %+v", del)
	}
	if code := call(t, http.MethodGet, objURL(srv, "bk1", "dir/file.bin"), nil, nil); code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
}

func chunkSum(b []byte) cas.Digest { return chunk.Sum(b) }
