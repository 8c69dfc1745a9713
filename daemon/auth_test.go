package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/mlflowapi"
)

// credential is one way a request can present itself.
type credential struct {
	name       string
	id, secret string // "" id: no credentials
}

// authServer starts a node with anonymous access off and makes a key for
// each role, a write key limited to the bucket "other", and the buckets
// and objects the matrix uses.
func authServer(t *testing.T) (*Server, []credential) {
	t.Helper()
	srv := newTestServer(t, func(c *Config) { c.Anonymous = "" })
	admin := s3Creds(t, srv)
	ac, err := client.New(client.Config{Endpoints: []string{srv.URL()}, Token: admin.AccessKey + ":" + admin.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	creds := []credential{{name: "none"}, {name: "wrong", id: admin.AccessKey, secret: "not-the-secret-at-all"}}
	for _, k := range []struct {
		name, role string
		buckets    []string
	}{{"read", "read", nil}, {"write", "write", nil}, {"admin", "admin", nil}, {"other", "write", []string{"other"}}} {
		key, err := ac.Admin().CreateKey(t.Context(), client.KeyRequest{Role: k.role, Buckets: k.buckets, Name: k.name})
		if err != nil {
			t.Fatalf("create %s key: %v", k.name, err)
		}
		creds = append(creds, credential{name: k.name, id: key.ID, secret: key.Secret})
	}
	for _, b := range []string{"data", "other", "mlflow"} {
		if _, err := ac.CreateBucket(t.Context(), b, client.BucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ac.Put(t.Context(), "data", "k", bytes.NewReader([]byte("secret bytes")), 12, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Put(t.Context(), "mlflow", "1/run/artifacts/a.txt", bytes.NewReader([]byte("artifact")), 8, nil); err != nil {
		t.Fatal(err)
	}
	return srv, creds
}

// TestAuth_Matrix sends a request to every route of every surface with
// every kind of credential: none, a wrong secret, a read, a write and an
// admin key, and a write key limited to another bucket. The table says
// what each must get: "ok" (any answer but 401 and 403: the route ran),
// "401" or "403". S3 answers both failures 403, as AWS does.
func TestAuth_Matrix(t *testing.T) {
	srv, creds := authServer(t)
	empty := chunk.Sum(nil)
	chunkBody := []byte("a chunk of its own")
	routes := []struct {
		surface, method, path, body string
		want                        string // for none, wrong, read, write, admin, other
	}{
		{"", "GET", "/healthz", "", "ok ok ok ok ok ok"},
		{"", "GET", "/readyz", "", "ok ok ok ok ok ok"},

		{"v1", "GET", "/v1/objects/data/k", "", "401 401 ok ok ok 403"},
		{"v1", "HEAD", "/v1/objects/data/k", "", "401 401 ok ok ok 403"},
		{"v1", "PUT", "/v1/objects/data/new-{c}", "x", "401 401 403 ok ok 403"},
		{"v1", "PUT", "/v1/objects/other/new-{c}", "x", "401 401 403 ok ok ok"},
		{"v1", "DELETE", "/v1/objects/data/new-{c}", "", "401 401 403 ok ok 403"},
		{"v1", "GET", "/v1/objects/data?prefix=k", "", "401 401 ok ok ok 403"},
		{"v1", "DELETE", "/v1/objects/data?prefix=nothing/", "", "401 401 403 ok ok 403"},
		{"v1", "GET", "/v1/stat/data/k", "", "401 401 ok ok ok 403"},
		{"v1", "POST", "/v1/commit/data/empty-{c}", `{"digest":"` + empty.String() + `","size":0,"chunks":[]}`, "401 401 403 ok ok 403"},
		{"v1", "POST", "/v1/chunks/missing", `{"digests":["` + empty.String() + `"]}`, "401 401 403 ok ok ok"},
		{"v1", "PUT", "/v1/chunks/" + chunk.Sum(chunkBody).String(), string(chunkBody), "401 401 403 ok ok ok"},
		{"v1", "GET", "/v1/chunks/" + chunk.Sum(chunkBody).String(), "", "401 401 ok ok ok ok"},
		{"v1", "POST", "/v1/chunks/fetch", `{"digests":["` + chunk.Sum(chunkBody).String() + `"]}`, "401 401 ok ok ok ok"},
		{"v1", "POST", "/v1/chunks", string(chunk.AppendBatch(nil, chunk.Sum(chunkBody), append([]byte{chunk.RawForm}, chunkBody...))), "401 401 403 ok ok ok"},
		{"v1", "GET", "/v1/buckets", "", "401 401 ok ok ok ok"},
		{"v1", "GET", "/v1/buckets/data", "", "401 401 ok ok ok 403"},
		{"v1", "PUT", "/v1/buckets/made-by-{c}", "", "401 401 403 ok ok 403"},
		{"v1", "DELETE", "/v1/buckets/nothing-{c}", "", "401 401 403 ok ok 403"},
		{"v1", "GET", "/v1/resolve?uri=data/k", "", "401 401 ok ok ok 403"},
		{"v1", "GET", "/v1/runs", "", "401 401 ok ok ok ok"},
		{"v1", "GET", "/v1/models", "", "401 401 ok ok ok ok"},
		{"v1", "GET", "/v1/stats", "", "401 401 ok ok ok 403"},
		{"v1", "GET", "/v1/refs", "", "401 401 ok ok ok 403"},
		{"v1", "PUT", "/v1/refs/ref-{c}", `{"target":"data/k"}`, "401 401 403 ok ok 403"},
		{"v1", "GET", "/v1/cluster/status", "", "401 401 ok ok ok 403"},
		{"v1", "POST", "/v1/cluster/remove", `{"id":"nobody"}`, "401 401 403 403 ok 403"},
		{"v1", "GET", "/v1/admin/backup", "", "401 401 403 403 ok 403"},
		{"v1", "POST", "/v1/admin/restore", "not a backup", "401 401 403 403 ok 403"},
		{"v1", "POST", "/v1/admin/gc", "", "401 401 403 403 ok 403"},
		{"v1", "POST", "/v1/admin/scrub", "", "401 401 403 403 ok 403"},
		{"v1", "POST", "/v1/admin/reclaim", "", "401 401 403 403 ok 403"},
		{"v1", "GET", "/v1/keys", "", "401 401 403 403 ok 403"},
		{"v1", "POST", "/v1/keys", `{"role":"read"}`, "401 401 403 403 ok 403"},
		{"v1", "DELETE", "/v1/keys/nobody", "", "401 401 403 403 ok 403"},

		{"mlflow", "GET", mlflowapi.Prefix + "artifacts?path=1/run/artifacts", "", "401 401 ok ok ok 403"},
		{"mlflow", "GET", mlflowapi.Prefix + "artifacts/1/run/artifacts/a.txt", "", "401 401 ok ok ok 403"},
		{"mlflow", "PUT", mlflowapi.Prefix + "artifacts/1/run/artifacts/{c}.txt", "x", "401 401 403 ok ok 403"},
		{"mlflow", "DELETE", mlflowapi.Prefix + "artifacts/1/run/artifacts/{c}.txt", "", "401 401 403 ok ok 403"},
		{"mlflow", "POST", mlflowapi.Prefix + "mpu/create/1/run/artifacts", `{"path":"big-{c}.bin","num_parts":1}`, "401 401 403 ok ok 403"},

		{"s3", "GET", "/", "", "403 403 ok ok ok ok"},
		{"s3", "GET", "/data?list-type=2", "", "403 403 ok ok ok 403"},
		{"s3", "GET", "/data/k", "", "403 403 ok ok ok 403"},
		{"s3", "HEAD", "/data/k", "", "403 403 ok ok ok 403"},
		{"s3", "PUT", "/data/s3-{c}", "x", "403 403 403 ok ok 403"},
		{"s3", "PUT", "/other/s3-{c}", "x", "403 403 403 ok ok ok"},
		{"s3", "DELETE", "/data/s3-{c}", "", "403 403 403 ok ok 403"},
		{"s3", "PUT", "/s3-bucket-{c}", "", "403 403 403 ok ok 403"},
		{"s3", "POST", "/data/mpu-{c}?uploads", "", "403 403 403 ok ok 403"},
		{"s3", "PUT", "/other/copy-{c}", "copy:data/k", "403 403 403 ok ok 403"},
		{"s3", "GET", "/data?acl", "", "403 403 ok ok ok 403"},
	}
	for _, rt := range routes {
		want := strings.Fields(rt.want)
		if len(want) != len(creds) {
			t.Fatalf("%s %s: %d expectations for %d credentials", rt.method, rt.path, len(want), len(creds))
		}
		for i, c := range creds {
			name := fmt.Sprintf("%s %s as %s", rt.method, rt.path, c.name)
			path := strings.ReplaceAll(rt.path, "{c}", c.name)
			body := strings.ReplaceAll(rt.body, "{c}", c.name)
			st := authRequest(t, srv, rt.surface, rt.method, path, body, c)
			got := "ok"
			if st == 401 || st == 403 {
				got = fmt.Sprint(st)
			}
			if got != want[i] {
				t.Errorf("%s: %d, want %s", name, st, want[i])
			}
		}
	}
}

// authRequest sends one request of the matrix and returns its status.
func authRequest(t *testing.T, srv *Server, surface, method, path, body string, c credential) int {
	t.Helper()
	var req *http.Request
	h := http.Header{}
	if surface == "s3" {
		if src, ok := strings.CutPrefix(body, "copy:"); ok {
			h.Set("X-Amz-Copy-Source", src)
			body = ""
		}
		if c.id == "" {
			req, _ = http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
			for k, v := range h {
				req.Header[k] = v
			}
		} else {
			req = s3SignedRequest(t, srv.URL()+path, method, h, []byte(body), c.id, c.secret)
		}
	} else {
		req, _ = http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
		if c.id != "" {
			if surface == "mlflow" {
				req.SetBasicAuth(c.id, c.secret)
			} else {
				req.Header.Set("Authorization", "Bearer "+c.id+":"+c.secret)
			}
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuth_ScopedAnswers shows a key limited to a bucket only that
// bucket's content in the listings that span buckets.
func TestAuth_ScopedAnswers(t *testing.T) {
	srv, creds := authServer(t)
	other := creds[len(creds)-1]
	c, err := client.New(client.Config{Endpoints: []string{srv.URL()}, Token: other.id + ":" + other.secret})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := c.Buckets(t.Context())
	if err != nil || len(bs) != 1 || bs[0].Name != "other" {
		t.Fatalf("buckets of a key limited to other: %+v, %v", bs, err)
	}
	runs, err := c.Runs(t.Context(), client.RunFilter{})
	if err != nil || len(runs) != 0 {
		t.Fatalf("runs of a key limited to other: %+v, %v", runs, err)
	}
	s3 := s3SDKAt(t, srv.URL(), http.DefaultClient, other.id, other.secret)
	out, err := s3.ListBuckets(t.Context(), nil)
	if err != nil || len(out.Buckets) != 1 || *out.Buckets[0].Name != "other" {
		t.Fatalf("S3 buckets of a key limited to other: %v", err)
	}
}

// TestAuth_Metrics serves /metrics to loopback clients without
// credentials, and to others only with a key that reads the cluster.
func TestAuth_Metrics(t *testing.T) {
	srv, creds := authServer(t)
	get := func(remote, token string) int {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = remote
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Code
	}
	read := creds[2]
	for _, c := range []struct {
		remote, token string
		want          int
	}{
		{"127.0.0.1:5555", "", 200},
		{"[::1]:5555", "", 200},
		{"10.1.2.3:5555", "", 401},
		{"10.1.2.3:5555", read.id + ":" + read.secret, 200},
		{"10.1.2.3:5555", read.id + ":wrong", 401},
	} {
		if got := get(c.remote, c.token); got != c.want {
			t.Errorf("/metrics from %s with %q: %d, want %d", c.remote, c.token, got, c.want)
		}
	}
}

// TestAuth_KeysAcrossCluster creates a key through one node of three and
// uses it on the other two, on every surface, and again after a restart:
// one identity for the whole cluster.
func TestAuth_KeysAcrossCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.Anonymous = "" })
	admin := c.cfgs[0].S3Keys[0]
	ac, err := client.New(client.Config{Endpoints: []string{c.nodes[0].URL()}, Token: admin.AccessKey + ":" + admin.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	k, err := ac.Admin().CreateKey(t.Context(), client.KeyRequest{Role: "write", Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateBucket(t.Context(), "data", client.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	c.ensureSame()
	use := func(i int) {
		t.Helper()
		n := c.nodes[i]
		nc, err := client.New(client.Config{Endpoints: []string{n.URL()}, Token: k.ID + ":" + k.Secret})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Put(t.Context(), "data", fmt.Sprintf("native-%d", i), bytes.NewReader([]byte("x")), 1, nil); err != nil {
			t.Fatalf("native API on node %d: %v", i, err)
		}
		s3 := s3SDKAt(t, n.URL(), http.DefaultClient, k.ID, k.Secret)
		s3Put(t, s3, "data", fmt.Sprintf("s3-%d", i), []byte("y"))
		req, _ := http.NewRequest("GET", n.URL()+mlflowapi.Prefix+"artifacts?path=x", nil)
		req.SetBasicAuth(k.ID, k.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("MLflow API on node %d: %v %v", i, err, resp.Status)
		}
		resp.Body.Close()
	}
	for i := range c.nodes {
		use(i)
	}
	c.stop(2)
	c.restart(2)
	use(2)
	// Deleted, it stops working everywhere.
	if err := ac.Admin().DeleteKey(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	c.ensureSame()
	for i, n := range c.nodes {
		if st := authRequest(t, n, "v1", "GET", "/v1/buckets", "", credential{name: "deleted", id: k.ID, secret: k.Secret}); st != 401 {
			t.Fatalf("a deleted key on node %d: %d", i, st)
		}
	}
}

// TestAuth_FirstKey starts a node with no key configured: it makes one
// admin key, shows it once, keeps it 0600 in a 0700 data folder (with the
// cluster secret it generated), and does neither again on a restart.
// Another cluster secret is then refused, since the keys are sealed under
// the first.
func TestAuth_FirstKey(t *testing.T) {
	dir := t.TempDir()
	var shown []string
	cfg := func(c *Config) {
		c.DataDir, c.S3Keys, c.Anonymous = dir, nil, ""
		c.OnFirstKey = func(id, secret, path string) { shown = append(shown, id+":"+secret+"@"+path) }
	}
	srv := newTestServer(t, cfg)
	if len(shown) != 1 {
		t.Fatalf("the first key was shown %d times", len(shown))
	}
	k, err := srv.AdminKey()
	if err != nil || shown[0] != k.AccessKey+":"+k.SecretKey+"@"+filepath.Join(dir, adminKeyFile) {
		t.Fatalf("admin key %+v (%v), shown %q", k, err, shown[0])
	}
	if st := authRequest(t, srv, "v1", "GET", "/v1/keys", "", credential{id: k.AccessKey, secret: k.SecretKey}); st != 200 {
		t.Fatalf("the first admin key lists keys: %d", st)
	}
	for name, want := range map[string]os.FileMode{".": 0o700, adminKeyFile: 0o600, secretFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, %v; want mode %v", name, fi.Mode(), err, want)
		}
	}
	srv.Close()
	srv2 := newTestServer(t, cfg)
	if len(shown) != 1 {
		t.Fatal("a restart made or showed another first key")
	}
	if st := authRequest(t, srv2, "v1", "GET", "/v1/keys", "", credential{id: k.AccessKey, secret: k.SecretKey}); st != 200 {
		t.Fatalf("the first admin key after a restart: %d", st)
	}
	srv2.Close()
	c := Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", ClusterSecret: "another one"}
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), secretFile) {
		t.Fatalf("another cluster secret: %v", err)
	}
}
