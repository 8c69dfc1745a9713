package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"cairn/bench/boosters"
	"cairn/cas/chunk"
	"cairn/client"
)

// Helpers of the client-to-daemon tests (client_test.go, cli_test.go and
// client_bench_test.go).

// clientTestRun is the MLflow run id the client tests log under.
const (
	clientTestRun = "0123456789abcdef0123456789abcdef"
	clientTestExp = "7"
)

// newClientTestServer starts a node (newTestServer) with the bucket
// "test".
func newClientTestServer(t testing.TB) *Server {
	t.Helper()
	srv := newTestServer(t)
	mkBucket(t, srv, "test")
	return srv
}

// countingTransport counts the requests that pass through it by kind, and
// the chunk bytes uploaded. fail, if set, may fail a request before it is
// sent.
type countingTransport struct {
	base      http.RoundTripper
	chunkPuts atomic.Int64
	chunkGets atomic.Int64
	putBytes  atomic.Int64
	missing   atomic.Int64
	commits   atomic.Int64
	// commitTime adds up the nanoseconds commits took, answer included.
	commitTime atomic.Int64
	fail       func(r *http.Request) error
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	switch {
	case p == "/v1/chunks/missing":
		c.missing.Add(1)
	case strings.HasPrefix(p, "/v1/chunks/") && r.Method == http.MethodPut:
		c.chunkPuts.Add(1)
		c.putBytes.Add(r.ContentLength)
	case p == "/v1/chunks" && r.Method == http.MethodPost:
		// A batch: count its chunks and their bytes (each sent raw or
		// in S2's block format, after its codec byte).
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		chunk.ReadBatch(bytes.NewReader(body), 1<<24, func(_ chunk.Digest, v []byte) error {
			c.chunkPuts.Add(1)
			n := len(v) - 1
			if v[0] == 2 {
				n, _ = s2.DecodedLen(v[1:])
			}
			c.putBytes.Add(int64(n))
			return nil
		})
	case strings.HasPrefix(p, "/v1/chunks/") && r.Method == http.MethodGet:
		c.chunkGets.Add(1)
	case p == "/v1/chunks/fetch":
		// Chunks asked for in a batch: count each.
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req client.MissingRequest
		if json.Unmarshal(body, &req) == nil {
			c.chunkGets.Add(int64(len(req.Digests)))
		}
	case strings.HasPrefix(p, "/v1/commit/"):
		c.commits.Add(1)
	}
	if c.fail != nil {
		if err := c.fail(r); err != nil {
			return nil, err
		}
	}
	if strings.HasPrefix(p, "/v1/commit/") {
		start := time.Now()
		defer func() { c.commitTime.Add(int64(time.Since(start))) }()
	}
	return c.base.RoundTrip(r)
}

func (c *countingTransport) reset() {
	c.chunkPuts.Store(0)
	c.chunkGets.Store(0)
	c.putBytes.Store(0)
	c.missing.Store(0)
	c.commits.Store(0)
	c.commitTime.Store(0)
}

// newCountingClient returns a client of the given endpoints whose requests
// the returned transport counts.
func newCountingClient(t testing.TB, endpoints ...string) (*client.Client, *countingTransport) {
	t.Helper()
	ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := client.New(client.Config{Endpoints: endpoints, HTTPClient: &http.Client{Transport: ct},
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, ct
}

// clientCopyFile copies src to dst.
func clientCopyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// clientBooster returns a medium booster from the shared data.
func clientBooster(t testing.TB, variant, format string) string {
	t.Helper()
	p := filepath.Join(clientSharedData(t), "boosters", "m", variant+"."+format)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared booster data: %v", err)
	}
	return p
}

func clientSharedData(t testing.TB) string {
	t.Helper()
	d, err := boosters.DataDir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// clientModelDir builds an MLflow model folder: the env files and MLmodel of
// the shared data plus a booster as model.xgb.
func clientModelDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	env := filepath.Join(clientSharedData(t), "env")
	ents, err := os.ReadDir(env)
	if err != nil {
		t.Fatalf("shared env data: %v", err)
	}
	for _, e := range ents {
		clientCopyFile(t, filepath.Join(env, e.Name()), filepath.Join(dir, e.Name()))
	}
	clientCopyFile(t, clientBooster(t, "model", "xgb"), filepath.Join(dir, "model.xgb"))
	return dir
}

// clientDigestTree returns the BLAKE3 digest of every file under dir, by path.
func clientDigestTree(t testing.TB, dir string) map[string]chunk.Digest {
	t.Helper()
	out := map[string]chunk.Digest{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = chunk.Sum(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func clientSameTree(t testing.TB, got, want map[string]chunk.Digest) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d files, want %d: %v vs %v", len(got), len(want), got, want)
	}
	for p, d := range want {
		if got[p] != d {
			t.Errorf("%s: digest %s, want %s", p, got[p].Short(), d.Short())
		}
	}
}

// clientDeadEndpoint returns the address of a listener that was closed: a
// connection to it is refused.
func clientDeadEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// clientFailAfter returns a fail hook that cancels the download's context after
// n requests for chunks (one chunk's GET or a batch's fetch), as an
// interrupted download.
func clientFailAfter(n int64, cancel context.CancelFunc) func(*http.Request) error {
	var seen atomic.Int64
	return func(r *http.Request) error {
		fetch := r.URL.Path == "/v1/chunks/fetch" || (r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/chunks/"))
		if fetch && seen.Add(1) > n {
			cancel()
			return context.Canceled
		}
		return nil
	}
}

// clientPartialState hashes each chunk range of a partial file against a
// recipe: how many entries are good, and the digests with no good copy.
func clientPartialState(t testing.TB, path string, recipe chunk.Recipe) (int, map[chunk.Digest]bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	good, have, lacking := 0, map[chunk.Digest]bool{}, map[chunk.Digest]bool{}
	var off int64
	for _, r := range recipe {
		end := off + int64(r.Size)
		if end <= int64(len(b)) && chunk.Sum(b[off:end]) == r.Digest {
			good++
			have[r.Digest] = true
		}
		off = end
	}
	for _, r := range recipe {
		if !have[r.Digest] {
			lacking[r.Digest] = true
		}
	}
	return good, lacking
}

func clientSameFile(t testing.TB, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("%s differs from %s (%d vs %d bytes)", got, want, len(g), len(w))
	}
}

// corruptingProxy serves base through a reverse proxy that flips a byte
// in the answers to GET /v1/chunks/<digest>.
func corruptingProxy(t testing.TB, base, digest string) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	proxy.ModifyResponse = func(resp *http.Response) error {
		switch resp.Request.URL.Path {
		case "/v1/chunks/" + digest:
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x40
			resp.Body = io.NopCloser(bytes.NewReader(b))
		case "/v1/chunks/fetch":
			// A batch: flip a byte of that chunk, if it holds it.
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			var out []byte
			err = chunk.ReadBatch(bytes.NewReader(b), 1<<24, func(d chunk.Digest, v []byte) error {
				if d.String() == digest {
					v[1+(len(v)-1)/2] ^= 0x40
				}
				out = chunk.AppendBatch(out, d, v)
				return nil
			})
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(out))
		}
		return nil
	}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	return ps
}
