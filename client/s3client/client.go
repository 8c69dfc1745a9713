package s3client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultRegion = "us-east-1"
	// DefaultRetries is how many more times a request whose body can be
	// sent again is tried after a connection error or a 500, 503 or 429.
	DefaultRetries = 3
)

// Config configures a Client.
type Config struct {
	// Endpoint is the base URL of the S3 service, such as
	// "http://10.0.0.5:9000"; buckets go in the path (path style).
	Endpoint string
	// Region is the region requests are signed for (DefaultRegion when
	// empty).
	Region    string
	AccessKey string
	SecretKey string
	// HTTPClient sends the requests (nil: http.DefaultClient).
	HTTPClient *http.Client
	// Retries overrides DefaultRetries; negative means none.
	Retries int
	// ListPageSize is the max-keys of each page List asks for (0: the
	// server's default, 1000 in S3).
	ListPageSize int
}

// Client calls an S3 service. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	hc   *http.Client
	now  func() time.Time
}

// ObjectInfo describes an object as a listing or a HEAD shows it.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // as the server sent it, without quotes
	LastModified time.Time
	ContentType  string
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3client: give an access key and a secret key")
	}
	u, err := url.Parse(strings.TrimSpace(cfg.Endpoint))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("s3client: endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{cfg: cfg, base: u, hc: hc, now: time.Now}, nil
}

// request is one S3 call.
type request struct {
	method string
	bucket string
	key    string
	query  url.Values
	header http.Header
	// body returns the body from its start; nil means none. Once is set
	// when it can be called only once (the request is then not retried).
	body        func() (io.Reader, error)
	once        bool
	size        int64
	payloadHash string
}

func (r *request) resource() string {
	if r.key == "" {
		return r.bucket
	}
	return r.bucket + "/" + r.key
}

// do sends a request, retrying connection errors and 500, 503 and 429
// answers when the body can be sent again, and returns a 2xx answer (the
// caller closes its body) or an error.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, error) {
	if r.payloadHash == "" {
		r.payloadHash = emptySHA256
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		resp, err := c.try(ctx, r)
		if err == nil && resp.StatusCode/100 == 2 {
			return resp, nil
		}
		retryable := err != nil
		if err == nil {
			switch resp.StatusCode {
			case http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests:
				retryable = true
			}
			e := readError(resp, r.resource())
			resp.Body.Close()
			err = e
		}
		lastErr = err
		if !retryable || r.once || attempt >= c.cfg.Retries || ctx.Err() != nil {
			return nil, lastErr
		}
		t := time.NewTimer(time.Duration(100<<attempt) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, lastErr
		case <-t.C:
		}
	}
}

func (c *Client) try(ctx context.Context, r *request) (*http.Response, error) {
	u := *c.base
	p := "/" + r.bucket
	if r.key != "" {
		p += "/" + r.key
	}
	u.Path = c.base.Path + p
	u.RawPath = uriEncode(c.base.Path, false) + uriEncode(p, false)
	u.RawQuery = canonicalQuery(r.query)
	var body io.Reader
	if r.body != nil {
		b, err := r.body()
		if err != nil {
			return nil, fmt.Errorf("s3 %s %s: %w", r.method, r.resource(), err)
		}
		body = b
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("s3 %s %s: %w", r.method, r.resource(), err)
	}
	if body != nil {
		req.ContentLength = r.size
		if r.size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	c.sign(req, r.payloadHash, c.now())
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("s3 %s %s: %w", r.method, r.resource(), err)
	}
	return resp, nil
}

// PutObject stores size bytes of r under bucket/key. When r is an
// io.ReadSeeker its SHA-256 is signed and the request retried on a
// transient error; any other reader is sent once, as UNSIGNED-PAYLOAD.
func (c *Client) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64) error {
	if size < 0 {
		return fmt.Errorf("s3 put %s/%s: size unknown", bucket, key)
	}
	req := &request{method: http.MethodPut, bucket: bucket, key: key, size: size,
		header: http.Header{"Content-Type": {"application/octet-stream"}}}
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("s3 put %s/%s: %w", bucket, key, err)
		}
		h := sha256.New()
		if n, err := io.Copy(h, io.LimitReader(rs, size)); err != nil || n != size {
			return fmt.Errorf("s3 put %s/%s: read %d of %d bytes: %v", bucket, key, n, size, err)
		}
		req.payloadHash = hex.EncodeToString(h.Sum(nil))
		req.body = func() (io.Reader, error) {
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, err
			}
			return io.LimitReader(rs, size), nil
		}
	} else {
		req.payloadHash, req.once = unsignedPayload, true
		req.body = func() (io.Reader, error) { return io.LimitReader(r, size), nil }
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// GetObject returns the content of bucket/key and its length. The caller
// closes the reader.
func (c *Client) GetObject(ctx context.Context, bucket, key string) (io.ReadCloser, int64, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, bucket: bucket, key: key})
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// HeadObject describes bucket/key without its content.
func (c *Client) HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	resp, err := c.do(ctx, &request{method: http.MethodHead, bucket: bucket, key: key})
	if err != nil {
		return ObjectInfo{}, err
	}
	resp.Body.Close()
	info := ObjectInfo{Key: key, Size: resp.ContentLength, ETag: strings.Trim(resp.Header.Get("ETag"), `"`),
		ContentType: resp.Header.Get("Content-Type")}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		info.LastModified = t
	}
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil {
		info.Size = n
	}
	return info, nil
}

// DeleteObject deletes bucket/key; deleting a key that does not exist
// succeeds, as in S3.
func (c *Client) DeleteObject(ctx context.Context, bucket, key string) error {
	resp, err := c.do(ctx, &request{method: http.MethodDelete, bucket: bucket, key: key})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// CreateBucket creates a bucket. Outside DefaultRegion the request names
// the Config's region as the bucket's location.
func (c *Client) CreateBucket(ctx context.Context, bucket string) error {
	req := &request{method: http.MethodPut, bucket: bucket}
	if c.cfg.Region != DefaultRegion {
		doc := []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>` +
			c.cfg.Region + `</LocationConstraint></CreateBucketConfiguration>`)
		req.size, req.payloadHash = int64(len(doc)), hexSHA256(doc)
		req.body = func() (io.Reader, error) { return strings.NewReader(string(doc)), nil }
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
