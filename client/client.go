package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultEndpoint    = "http://127.0.0.1:8700"
	DefaultRetries     = 4
	DefaultParallelism = 8
	DefaultBackoffBase = 100 * time.Millisecond
	DefaultBackoffMax  = 5 * time.Second
	// DefaultMaxRetryAfter is the longest Retry-After the client waits
	// for; a server asking for more gets its error returned instead.
	DefaultMaxRetryAfter = time.Minute
)

// Config configures a Client. The zero value talks to DefaultEndpoint
// over plain HTTP with the defaults below.
type Config struct {
	// Endpoints are the base URLs of the cluster's nodes, such as
	// "http://10.0.0.1:8700". A call goes to the endpoint that last
	// answered and fails over to the next one when a node refuses the
	// connection or answers 503. A bare host:port means http://host:port.
	Endpoints []string
	// Token is sent as "Authorization: Bearer <Token>" when set: an
	// access key as "id:secret" (or a node's configured token).
	Token string
	// HTTPClient sends the requests. Nil means a client built for the
	// configuration (keep-alive connections enough for Parallelism, and
	// CACert or TLSConfig). Give either HTTPClient or CACert/TLSConfig.
	HTTPClient *http.Client
	// CACert is a PEM bundle of the certificate authorities to trust for
	// https endpoints, in addition to the system roots.
	CACert []byte
	// TLSConfig is the TLS configuration for https endpoints; it takes
	// precedence over CACert.
	TLSConfig *tls.Config
	// Retries is how many more rounds over the endpoints an idempotent call
	// gets after the first (0: DefaultRetries; negative: none).
	Retries int
	// Parallelism bounds the chunk transfers in flight for one Put or Get
	// (0: DefaultParallelism).
	Parallelism int
	// BackoffBase and BackoffMax shape the wait between rounds:
	// exponential with full jitter, at least what Retry-After asks.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for (0:
	// DefaultMaxRetryAfter); a server asking for more gets its error
	// returned instead.
	MaxRetryAfter time.Duration
	// Sleep waits between retries (nil: a timer that ctx interrupts).
	// Tests replace it to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives retry and failover events at debug level (nil:
	// slog.Default()).
	Logger *slog.Logger
}

// Client talks to a cairn cluster over its native /v1 API. It is safe for
// concurrent use; it holds no resources beyond idle HTTP connections,
// which CloseIdleConnections releases.
type Client struct {
	cfg  Config
	conn *conn
	log  *slog.Logger
	// noBatches is set once a node answered the batched chunk routes as
	// a release before them does: chunks then go one request each.
	noBatches atomic.Bool
	// noStored is set once a node answered a commit of a stored file as
	// a release before them does: Put then always sends the content.
	noStored atomic.Bool
}

// conn sends the native API's calls: it picks the endpoint, fails over
// and retries (transport.go). It is safe for concurrent use.
type conn struct {
	cfg       Config
	endpoints []*url.URL
	hc        *http.Client
	log       *slog.Logger
	// preferred is the index of the endpoint that last answered.
	preferred atomic.Int32
}

// New validates cfg, fills in its defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		cfg.Endpoints = []string{DefaultEndpoint}
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = DefaultParallelism
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "client")
	cn := &conn{cfg: cfg, log: log}
	for _, e := range cfg.Endpoints {
		u, err := parseEndpoint(e)
		if err != nil {
			return nil, err
		}
		cn.endpoints = append(cn.endpoints, u)
	}
	hc, err := httpClient(cfg)
	if err != nil {
		return nil, err
	}
	cn.hc = hc
	return &Client{cfg: cfg, conn: cn, log: log}, nil
}

// parseEndpoint accepts a base URL or a bare host:port.
func parseEndpoint(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse endpoint %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("parse endpoint %q: want http(s)://host:port", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func httpClient(cfg Config) (*http.Client, error) {
	if cfg.HTTPClient != nil {
		if cfg.CACert != nil || cfg.TLSConfig != nil {
			return nil, errors.New("client: give HTTPClient or CACert/TLSConfig, not both")
		}
		return cfg.HTTPClient, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Chunk transfers run in parallel; keep enough connections alive
	// that they do not churn.
	tr.MaxIdleConnsPerHost = 2 * cfg.Parallelism
	switch {
	case cfg.TLSConfig != nil:
		tr.TLSClientConfig = cfg.TLSConfig.Clone()
	case cfg.CACert != nil:
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(cfg.CACert) {
			return nil, errors.New("client: no certificate found in CACert")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

// Endpoints returns the endpoints the client uses, in order.
func (c *Client) Endpoints() []string {
	out := make([]string, len(c.conn.endpoints))
	for i, u := range c.conn.endpoints {
		out[i] = u.String()
	}
	return out
}

// CloseIdleConnections closes the keep-alive connections of the
// underlying HTTP client.
func (c *Client) CloseIdleConnections() { c.conn.hc.CloseIdleConnections() }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff returns the wait before retry round n (1-based): full jitter
// over an exponentially growing cap, and never less than retryAfter.
func (c *conn) backoff(n int, retryAfter time.Duration) time.Duration {
	ceiling := c.cfg.BackoffMax
	if n <= 30 && c.cfg.BackoffBase<<(n-1) < ceiling {
		ceiling = c.cfg.BackoffBase << (n - 1)
	}
	d := time.Duration(rand.Int64N(int64(ceiling) + 1))
	return max(d, retryAfter)
}
