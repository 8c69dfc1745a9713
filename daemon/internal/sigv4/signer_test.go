package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cairn/daemon/internal/sigv4"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	miniosigner "github.com/minio/minio-go/v7/pkg/signer"
)

// signerCase is a request built by hand, to be signed by a client library's
// own signer and sent through Go's client and server.
type signerCase struct {
	name     string
	method   string
	path     string // URL.Path, decoded
	rawPath  string // URL.RawPath when the client encodes more than Go does
	query    string // RawQuery as sent
	headers  http.Header
	body     string
	wantPath string // r.URL.Path the server must see; path when empty
	// sdkOnly marks requests minio-go's signer cannot sign as S3 expects
	// and minio-go never sends: it signs the decoded path re-encoded, so an
	// encoded '/' is lost, and keeps repeated query values unsorted.
	sdkOnly bool
}

func (c signerCase) request(t *testing.T, s *server) *http.Request {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path, u.RawPath, u.RawQuery = c.path, c.rawPath, c.query
	r, err := http.NewRequest(c.method, u.String(), strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	r.URL.Path, r.URL.RawPath = c.path, c.rawPath // as the SDK sets them
	for k, v := range c.headers {
		r.Header[k] = v
	}
	return r
}

var signerCases = []signerCase{
	{name: "sub-delims sent raw", method: "PUT", path: "/bucket/a!$&'()*+,;=:@b", body: "x"},
	{name: "sub-delims encoded", method: "PUT", path: "/bucket/a!$&'()*+,;=:@b", rawPath: "/bucket/a%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A%40b", body: "x"},
	{name: "space and unicode", method: "GET", path: "/bucket/a b/✓", rawPath: "/bucket/a%20b/%E2%9C%93"},
	{name: "tilde encoded by client", method: "GET", path: "/bucket/a~b", rawPath: "/bucket/a%7Eb"},
	{name: "encoded slash in key", method: "GET", path: "/bucket/a/b", rawPath: "/bucket/a%2Fb", wantPath: "/bucket/a/b", sdkOnly: true},
	{name: "doubled and trailing slashes", method: "GET", path: "/bucket//a//b/"},
	{name: "dot segments", method: "GET", path: "/bucket/./a/../b"},
	{name: "empty-valued uploads", method: "POST", path: "/bucket/k", query: "uploads"},
	{name: "empty-valued delete", method: "POST", path: "/bucket", query: "delete=", body: "<Delete/>"},
	{name: "repeated key sorted by value", method: "GET", path: "/bucket", query: "a=2&a=1&b=&a=10", sdkOnly: true},
	{name: "encoded query", method: "GET", path: "/bucket", query: "list-type=2&prefix=a%20b%2Bc&delimiter=%2F&start-after=%21%27%28%29%2A~"},
	{name: "plus in query is space", method: "GET", path: "/bucket", query: "prefix=a+b"},
	{name: "unicode query", method: "GET", path: "/bucket", query: "prefix=%E2%9C%93&marker=%7E"},
	{name: "query order scrambled", method: "GET", path: "/bucket", query: "z=1&A=2&a=3&_=4&-=5"},
	{name: "repeated header values", method: "PUT", path: "/bucket/k", body: "hello",
		headers: http.Header{"X-Amz-Meta-Tag": {"one", "two"}, "X-Amz-Meta-Other": {"a,b"}}},
	{name: "spaces in header values", method: "PUT", path: "/bucket/k", body: "hello",
		headers: http.Header{"X-Amz-Meta-Spaces": {"  lead  and   inner   trail  "}, "Content-Type": {"text/plain;  charset=utf-8"}}},
	{name: "range and conditional", method: "GET", path: "/bucket/k",
		headers: http.Header{"Range": {"bytes=0-9"}, "If-None-Match": {`"abc"`}}},
	{name: "content-encoding kept", method: "PUT", path: "/bucket/k", body: "gzipped?",
		headers: http.Header{"Content-Encoding": {"gzip"}}},
}

// TestSDKSignerCanonicalisation signs hand-built requests with
// aws-sdk-go-v2's v4 signer the way the S3 client configures it (no double
// path escaping) and sends them through Go's client and server.
func TestSDKSignerCanonicalisation(t *testing.T) {
	s := newServer(t, false, nil)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
	for _, c := range signerCases {
		t.Run(c.name, func(t *testing.T) {
			r := c.request(t, s)
			sum := sha256.Sum256([]byte(c.body))
			hash := hex.EncodeToString(sum[:])
			r.Header.Set("X-Amz-Content-Sha256", hash)
			if err := signer.SignHTTP(context.Background(), creds, r, hash, "s3", testRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			r.URL.RawQuery = c.query // the signer rewrote it canonically; send it as the case has it
			sendSigned(t, s, r, c)
		})
	}
}

// TestMinioSignerCanonicalisation signs the same requests with minio-go's
// signer, which also signs Content-Length and Transfer-Encoding when they
// are in the header map; Go's client sends them from the request fields
// and Go's server moves them back out of the header map.
func TestMinioSignerCanonicalisation(t *testing.T) {
	s := newServer(t, false, nil)
	cases := append([]signerCase{
		{name: "content-length signed", method: "PUT", path: "/bucket/k", body: "twelve bytes",
			headers: http.Header{"Content-Length": {"12"}}},
		{name: "transfer-encoding signed", method: "PUT", path: "/bucket/k", body: "chunked on the wire",
			headers: http.Header{"Transfer-Encoding": {"chunked"}}},
	}, signerCases...)
	for _, c := range cases {
		if c.sdkOnly {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			r := c.request(t, s)
			if r.Header.Get("Transfer-Encoding") != "" {
				r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
			}
			sum := sha256.Sum256([]byte(c.body))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			r = miniosigner.SignV4(*r, testAccessKey, testSecretKey, "", testRegion)
			r.URL.RawQuery = c.query
			for _, h := range []string{"Content-Length", "Transfer-Encoding"} {
				if c.headers.Get(h) != "" && !strings.Contains(r.Header.Get("Authorization"), strings.ToLower(h)) {
					t.Fatalf("%s is not signed: %s", h, r.Header.Get("Authorization"))
				}
			}
			sendSigned(t, s, r, c)
		})
	}
}

// sendSigned sends a signed request and checks that the server accepted
// it, saw the intended path and read the body; then sends it again with
// the signature's last hex digit changed, which must fail.
func sendSigned(t *testing.T, s *server, r *http.Request, c signerCase) {
	t.Helper()
	for _, tamper := range []bool{false, true} {
		req := r.Clone(context.Background())
		req.Body = io.NopCloser(strings.NewReader(c.body))
		if tamper {
			h := req.Header.Get("Authorization")
			last := "0"
			if strings.HasSuffix(h, "0") {
				last = "1"
			}
			req.Header.Set("Authorization", h[:len(h)-1]+last)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := s.last(t)
		if tamper {
			if resp.StatusCode != 403 || got.Err == nil {
				t.Fatalf("tampered signature: status %d, server error %v", resp.StatusCode, got.Err)
			}
			continue
		}
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, got.Err)
		}
		want := c.wantPath
		if want == "" {
			want = c.path
		}
		if got.Path != want || got.RawQuery != c.query || got.Payload != sigv4.PayloadSHA256 {
			t.Fatalf("server saw path %q query %q payload %v", got.Path, got.RawQuery, got.Payload)
		}
		checkSeen(t, got, []byte(c.body))
		if c.headers.Get("Content-Encoding") != "" && got.Encoding != c.headers.Get("Content-Encoding") {
			t.Fatalf("stored encoding %q", got.Encoding)
		}
	}
}

// TestSDKSignerPresignedPayload presigns PUTs whose payload hash is signed,
// once as an X-Amz-Content-Sha256 header and once as a query parameter:
// the server must then hold the body to that hash instead of treating it
// as UNSIGNED-PAYLOAD.
func TestSDKSignerPresignedPayload(t *testing.T) {
	s := newServer(t, false, nil)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
	body := []byte("presigned payload")
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	for _, inQuery := range []bool{false, true} {
		for _, send := range [][]byte{body, []byte("presigned payloaD")} {
			r, err := http.NewRequest(http.MethodPut, s.URL+"/bucket/k?X-Amz-Expires=60", nil)
			if err != nil {
				t.Fatal(err)
			}
			if inQuery {
				r.URL.RawQuery += "&X-Amz-Content-Sha256=" + hash
			} else {
				r.Header.Set("X-Amz-Content-Sha256", hash)
			}
			target, signed, err := signer.PresignHTTP(context.Background(), creds, r, hash, "s3", testRegion, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			status, code := do(t, s, http.MethodPut, target, signed, send)
			got := s.last(t)
			if string(send) == string(body) {
				if status != 200 || got.Payload != sigv4.PayloadSHA256 || !got.Presigned {
					t.Fatalf("query %v: %d %s, payload %v", inQuery, status, code, got.Payload)
				}
				checkSeen(t, got, body)
			} else if code != "XAmzContentSHA256Mismatch" {
				t.Fatalf("query %v, altered body: %d %s", inQuery, status, code)
			}
		}
	}
}
