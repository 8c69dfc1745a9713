package sigv4_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// sdk returns an aws-sdk-go-v2 S3 client of the server signing with
// secret, with retries off and path-style addressing.
func (s *server) sdk(t *testing.T, secret string, opts ...func(*s3.Options)) *s3.Client {
	t.Helper()
	return s.sdkAs(t, testAccessKey, secret, testRegion, s.Client(), opts...)
}

// sdkAs is sdk with every part of the client chosen. It builds the
// configuration by hand rather than with config.LoadDefaultConfig, so that
// the environment (AWS_CA_BUNDLE, profiles) cannot change the client.
func (s *server) sdkAs(t *testing.T, ak, secret, region string, hc *http.Client, opts ...func(*s3.Options)) *s3.Client {
	t.Helper()
	cfg := aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(ak, secret, ""),
		HTTPClient:       hc,
		RetryMaxAttempts: 1,
		// LoadDefaultConfig's defaults since 2025.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.UsePathStyle = true
	}}, opts...)...)
}

// minio returns a minio-go client of the server signing with secret.
func (s *server) minio(t *testing.T, ak, secret string, transport http.RoundTripper) *minio.Client {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if transport == nil {
		transport = s.Client().Transport
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:           miniocreds.NewStaticV4(ak, secret, ""),
		Secure:          u.Scheme == "https",
		Transport:       transport,
		Region:          testRegion,
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: true,
		MaxRetries:      1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// capture is a RoundTripper that records the wire form of each request
// instead of sending it, and answers 200.
type capture struct {
	mu  sync.Mutex
	raw [][]byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	var b bytes.Buffer
	if err := r.Write(&b); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.raw = append(c.raw, b.Bytes())
	c.mu.Unlock()
	h := http.Header{"Etag": {`"0"`}}
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: h, Body: http.NoBody, Request: r,
		ProtoMajor: 1, ProtoMinor: 1}, nil
}

// only returns the one request captured.
func (c *capture) only(t *testing.T) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.raw) != 1 {
		t.Fatalf("captured %d requests, want 1", len(c.raw))
	}
	return c.raw[0]
}

// replay sends a raw HTTP/1.1 request to the server on a new connection,
// half-closes it so that a short body ends, and returns the status and
// S3 error code of the answer.
func (s *server) replay(t *testing.T, raw []byte) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closeWrite := conn.(*net.TCPConn).CloseWrite
	var rw io.ReadWriter = conn
	if s.TLS != nil {
		cfg := s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.ServerName = "127.0.0.1"
		tc := tls.Client(conn, cfg)
		rw, closeWrite = tc, tc.CloseWrite
	}
	if _, err := rw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := closeWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(rw), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Code string }
	body, _ := io.ReadAll(resp.Body)
	_ = xml.Unmarshal(body, &e)
	return resp.StatusCode, e.Code
}
