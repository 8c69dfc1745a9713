package client

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is an httptest server that answers each request with the next
// step of a script (the last step repeats) and counts the requests.
type scripted struct {
	*httptest.Server
	mu    sync.Mutex
	steps []http.HandlerFunc
	n     atomic.Int64
}

func newScripted(t testing.TB, steps ...http.HandlerFunc) *scripted {
	s := &scripted{steps: steps}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(s.n.Add(1)) - 1
		s.mu.Lock()
		step := s.steps[min(i, len(s.steps)-1)]
		s.mu.Unlock()
		step(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func answer(status int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
}

func unavailable(retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		answer(503, Error{Code: "ServiceUnavailable", Message: "no leader"})(w, r)
	}
}

// drop reads the request, then closes the connection in the middle of the
// answer.
func drop(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"buck")
	buf.Flush()
	conn.Close()
}

var okBucket = answer(200, Bucket{Name: "b"})

// deadAddr returns the URL of a closed listener: connections are refused.
func deadAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return "http://" + ln.Addr().String()
}

// sleeps records the waits the client asks for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newTestClient(t testing.TB, cfg Config) *Client {
	if cfg.Sleep == nil {
		cfg.Sleep = noSleep
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClient_Failover(t *testing.T) {
	t.Run("ConnectionRefused", func(t *testing.T) {
		live := newScripted(t, okBucket)
		c := newTestClient(t, Config{Endpoints: []string{deadAddr(t), live.URL}})
		for range 3 {
			if _, err := c.Bucket(t.Context(), "b"); err != nil {
				t.Fatal(err)
			}
		}
		if c.conn.preferred.Load() != 1 {
			t.Fatalf("preferred endpoint %d, want the live one", c.conn.preferred.Load())
		}
	})
	t.Run("RefusedNonIdempotentIsSafe", func(t *testing.T) {
		// A call that reached no server may go to the next one whatever it is.
		live := newScripted(t, okBucket)
		c := newTestClient(t, Config{Endpoints: []string{deadAddr(t), live.URL}})
		if _, err := c.CreateBucket(t.Context(), "b", BucketOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Unavailable", func(t *testing.T) {
		busy := newScripted(t, unavailable(""))
		live := newScripted(t, okBucket)
		c := newTestClient(t, Config{Endpoints: []string{busy.URL, live.URL}})
		for range 3 {
			if _, err := c.Bucket(t.Context(), "b"); err != nil {
				t.Fatal(err)
			}
		}
		if busy.n.Load() != 1 || live.n.Load() != 3 {
			t.Fatalf("busy node got %d calls, live %d; want 1 and 3", busy.n.Load(), live.n.Load())
		}
	})
	t.Run("AllDown", func(t *testing.T) {
		var s sleeps
		c := newTestClient(t, Config{Endpoints: []string{deadAddr(t), deadAddr(t)}, Retries: 2, Sleep: s.sleep})
		_, err := c.Bucket(t.Context(), "b")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
		if len(s.d) != 2 {
			t.Fatalf("backed off %d times, want 2 (one per round after the first)", len(s.d))
		}
	})
}

func TestClient_Retry(t *testing.T) {
	t.Run("RetryAfter", func(t *testing.T) {
		srv := newScripted(t, unavailable("3"), okBucket)
		var s sleeps
		c := newTestClient(t, Config{Endpoints: []string{srv.URL}, Sleep: s.sleep})
		if _, err := c.Bucket(t.Context(), "b"); err != nil {
			t.Fatal(err)
		}
		if len(s.d) != 1 || s.d[0] < 3*time.Second {
			t.Fatalf("waits %v, want one of at least the 3s Retry-After", s.d)
		}
	})
	t.Run("RetryAfterTooLong", func(t *testing.T) {
		srv := newScripted(t, unavailable("3600"), okBucket)
		c := newTestClient(t, Config{Endpoints: []string{srv.URL}})
		if _, err := c.Bucket(t.Context(), "b"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable rather than an hour's wait", err)
		}
	})
	t.Run("GiveUp", func(t *testing.T) {
		srv := newScripted(t, unavailable(""))
		c := newTestClient(t, Config{Endpoints: []string{srv.URL}, Retries: 3})
		_, err := c.Bucket(t.Context(), "b")
		var ae *APIError
		if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ae) || ae.Code != "ServiceUnavailable" || srv.n.Load() != 4 {
			t.Fatalf("got %v after %d calls; want the 503 after 4", err, srv.n.Load())
		}
	})
	t.Run("NoRetries", func(t *testing.T) {
		srv := newScripted(t, unavailable(""))
		c := newTestClient(t, Config{Endpoints: []string{srv.URL}, Retries: -1})
		if _, err := c.Bucket(t.Context(), "b"); err == nil || srv.n.Load() != 1 {
			t.Fatalf("got %v after %d calls, want an error after 1", err, srv.n.Load())
		}
	})
	t.Run("DefiniteErrorNotRetried", func(t *testing.T) {
		srv := newScripted(t, answer(404, Error{Code: "NoSuchBucket"}))
		c := newTestClient(t, Config{Endpoints: []string{srv.URL}})
		if _, err := c.Bucket(t.Context(), "b"); !errors.Is(err, ErrNotFound) || srv.n.Load() != 1 {
			t.Fatalf("got %v after %d calls, want ErrNotFound after 1", err, srv.n.Load())
		}
	})
}

func TestClient_UnknownOutcome(t *testing.T) {
	v := uint64(3)
	cas := RefRequest{Target: "x", IfVersion: &v}
	for _, tc := range []struct {
		name string
		step http.HandlerFunc
	}{
		{"Dropped", drop},
		{"OutcomeUnknown", answer(503, Error{Code: "OutcomeUnknown"})},
		{"RequestTimeout", answer(503, Error{Code: "RequestTimeout"})},
		{"BadGateway", answer(502, Error{Code: "BadGateway"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, tc.step, answer(200, Ref{Name: "r"}))
			other := newScripted(t, answer(200, Ref{Name: "r"}))
			c := newTestClient(t, Config{Endpoints: []string{srv.URL, other.URL}})
			_, err := c.PutRef(t.Context(), "r", cas)
			if !errors.Is(err, ErrUnknownOutcome) || srv.n.Load()+other.n.Load() != 1 {
				t.Fatalf("compare-and-swap: %v after %d calls; want ErrUnknownOutcome after 1", err, srv.n.Load()+other.n.Load())
			}
			// The same failure on an idempotent call is retried.
			srv.n.Store(0)
			if _, err := c.PutRef(t.Context(), "r", RefRequest{Target: "x"}); err != nil {
				t.Fatalf("idempotent put: %v", err)
			}
		})
	}
	t.Run("DroppedRead", func(t *testing.T) {
		srv := newScripted(t, drop, okBucket)
		c := newTestClient(t, Config{Endpoints: []string{srv.URL}})
		if _, err := c.Bucket(t.Context(), "b"); err != nil || srv.n.Load() != 2 {
			t.Fatalf("got %v after %d calls, want success after a retry", err, srv.n.Load())
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) { <-release })
		defer close(release)
		c := newTestClient(t, Config{Endpoints: []string{srv.URL}})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.PutRef(ctx, "r", cas)
		if !errors.Is(err, ErrUnknownOutcome) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want ErrUnknownOutcome and DeadlineExceeded", err)
		}
	})
	t.Run("ConditionalCommit", func(t *testing.T) {
		srv := newScripted(t, drop, answer(200, PutResult{}))
		c := newTestClient(t, Config{Endpoints: []string{srv.URL}})
		if _, err := c.commit(t.Context(), "b", "k", CommitRequest{IfNoneMatch: "*"}); !errors.Is(err, ErrUnknownOutcome) {
			t.Fatalf("conditional commit: %v, want ErrUnknownOutcome", err)
		}
		srv.n.Store(0)
		if _, err := c.commit(t.Context(), "b", "k", CommitRequest{}); err != nil || srv.n.Load() != 2 {
			t.Fatalf("plain commit: %v after %d calls, want success after a retry", err, srv.n.Load())
		}
	})
}

func TestClient_Backoff(t *testing.T) {
	c := newTestClient(t, Config{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	for n := 1; n <= 40; n++ {
		ceiling := min(time.Second, 100*time.Millisecond<<min(n-1, 20))
		for range 50 {
			if d := c.conn.backoff(n, 0); d < 0 || d > ceiling {
				t.Fatalf("round %d: %v outside [0, %v]", n, d, ceiling)
			}
		}
		if d := c.conn.backoff(n, 7*time.Second); d < 7*time.Second {
			t.Fatalf("round %d: %v below Retry-After", n, d)
		}
	}
}

func TestClient_Auth(t *testing.T) {
	var got atomic.Value
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		okBucket(w, r)
	})
	c := newTestClient(t, Config{Endpoints: []string{srv.URL}, Token: "s3cret"})
	if _, err := c.Bucket(t.Context(), "b"); err != nil || got.Load() != "Bearer s3cret" {
		t.Fatalf("Authorization %q (%v), want the bearer token", got.Load(), err)
	}
	if err := c.Admin().RemoveNode(t.Context(), "n2"); err != nil || got.Load() != "Bearer s3cret" {
		t.Fatalf("Authorization %q (%v) of an admin call, want the bearer token", got.Load(), err)
	}
}

func TestClient_TLS(t *testing.T) {
	srv := httptest.NewTLSServer(okBucket)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c := newTestClient(t, Config{Endpoints: []string{srv.URL}, CACert: ca})
	if _, err := c.Bucket(t.Context(), "b"); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	untrusting := newTestClient(t, Config{Endpoints: []string{srv.URL}, Retries: -1})
	if _, err := untrusting.Bucket(t.Context(), "b"); err == nil {
		t.Fatal("without the CA: no error")
	}
	if _, err := New(Config{CACert: []byte("not pem")}); err == nil {
		t.Fatal("a CACert without certificates is accepted")
	}
	if _, err := New(Config{CACert: ca, HTTPClient: http.DefaultClient}); err == nil {
		t.Fatal("both HTTPClient and CACert are accepted")
	}
}

func TestNew_Endpoints(t *testing.T) {
	c, err := New(Config{Endpoints: []string{"10.0.0.1:8700", "https://n2:8700/", "http://n3:8700/base"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://10.0.0.1:8700", "https://n2:8700", "http://n3:8700/base"}
	for i, e := range c.Endpoints() {
		if e != want[i] {
			t.Errorf("endpoint %d: %q, want %q", i, e, want[i])
		}
	}
	for _, bad := range []string{"ftp://x", "http://", "::"} {
		if _, err := New(Config{Endpoints: []string{bad}}); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
}

// TestTransport_ForeignAnswer: a server that is not a cairn node answers
// JSON of another shape; the error says so in JSON's terms, not Go's.
func TestTransport_ForeignAnswer(t *testing.T) {
	for name, body := range map[string]any{
		"list":  []int{1},
		"field": map[string]any{"name": 5},
	} {
		t.Run(name, func(t *testing.T) {
			s := newScripted(t, answer(200, body))
			c := newTestClient(t, Config{Endpoints: []string{s.URL}})
			_, err := c.Bucket(t.Context(), "b")
			if err == nil || !strings.Contains(err.Error(), "cairn node") || strings.Contains(err.Error(), "Go ") ||
				strings.Contains(err.Error(), "client.") || strings.Contains(err.Error(), "json:") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
