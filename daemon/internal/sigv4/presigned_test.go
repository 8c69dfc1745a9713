package sigv4_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cairn/daemon/internal/sigv4"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// do sends a request built from a presigned URL with the headers it signed.
func do(t *testing.T, s *server, method, target string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		if !strings.EqualFold(k, "Host") {
			req.Header[k] = v
		}
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code := ""
	if i, j := bytes.Index(b, []byte("<Code>")), bytes.Index(b, []byte("</Code>")); i >= 0 && j > i {
		code = string(b[i+6 : j])
	}
	return resp.StatusCode, code
}

// TestAWSSDKPresigned uses presigned GET and PUT URLs of aws-sdk-go-v2,
// valid, expired, not yet valid and tampered with.
func TestAWSSDKPresigned(t *testing.T) {
	data := payload(7, 70<<10)
	cases := []struct {
		name    string
		put     bool
		expires time.Duration
		clock   time.Duration // server clock minus real time
		edit    func(string) string
		status  int
		code    string
	}{
		{"get", false, time.Hour, 0, nil, 200, ""},
		{"put", true, time.Hour, 0, nil, 200, ""},
		{"get seven days", false, 7 * 24 * time.Hour, 7*24*time.Hour - time.Minute, nil, 200, ""},
		{"get expired", false, time.Hour, 61 * time.Minute, nil, 403, "AccessDenied"},
		{"put expired", true, time.Minute, 2 * time.Minute, nil, 403, "AccessDenied"},
		{"get not yet valid", false, time.Hour, -20 * time.Minute, nil, 403, "AccessDenied"},
		{"get key changed", false, time.Hour, 0, func(u string) string { return strings.Replace(u, "/obj?", "/obk?", 1) }, 403, "SignatureDoesNotMatch"},
		{"get expiry changed", false, time.Hour, 0, func(u string) string { return strings.Replace(u, "X-Amz-Expires=3600", "X-Amz-Expires=3601", 1) }, 403, "SignatureDoesNotMatch"},
		{"get parameter added", false, time.Hour, 0, func(u string) string { return u + "&response-content-type=text%2Fhtml" }, 403, "SignatureDoesNotMatch"},
		{"put signature dropped", true, time.Hour, 0, func(u string) string { return u[:strings.Index(u, "&X-Amz-Signature")] }, 400, "AuthorizationQueryParametersError"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, false, func(v *sigv4.Verifier) { v.Now = func() time.Time { return time.Now().Add(c.clock) } })
			presign := s3.NewPresignClient(s.sdk(t, testSecretKey), s3.WithPresignExpires(c.expires))
			var req *http.Request
			var body []byte
			if c.put {
				p, err := presign.PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("obj")})
				if err != nil {
					t.Fatal(err)
				}
				req, body = mustRequest(t, p.Method, p.URL, p.SignedHeader), data
			} else {
				p, err := presign.PresignGetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String("obj")})
				if err != nil {
					t.Fatal(err)
				}
				req = mustRequest(t, p.Method, p.URL, p.SignedHeader)
			}
			target := req.URL.String()
			if c.edit != nil {
				target = c.edit(target)
			}
			status, code := do(t, s, req.Method, target, req.Header, body)
			if status != c.status || code != c.code {
				t.Fatalf("got %d %s, want %d %s (server: %v)", status, code, c.status, c.code, s.last(t).Err)
			}
			if got := s.last(t); status == 200 {
				checkSeen(t, got, body)
				if !got.Presigned || got.Payload != sigv4.PayloadUnsigned {
					t.Fatalf("presigned %v payload %v", got.Presigned, got.Payload)
				}
			}
		})
	}
}

// mustRequest returns a request for a presigned URL and its signed headers.
func mustRequest(t *testing.T, method, target string, h http.Header) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header = h.Clone()
	return r
}

// TestMinioPresigned uses minio-go's presigned GET and PUT URLs.
func TestMinioPresigned(t *testing.T) {
	data := payload(9, 50<<10)
	cases := []struct {
		name   string
		put    bool
		clock  time.Duration
		edit   func(string) string
		status int
		code   string
	}{
		{"get", false, 0, nil, 200, ""},
		{"put", true, 0, nil, 200, ""},
		{"get expired", false, 61 * time.Minute, nil, 403, "AccessDenied"},
		{"put expired", true, 61 * time.Minute, nil, 403, "AccessDenied"},
		{"get not yet valid", false, -16 * time.Minute, nil, 403, "AccessDenied"},
		{"put key changed", true, 0, func(u string) string { return strings.Replace(u, "/obj?", "/ob%6A?", 1) }, 200, ""},
		{"put other key", true, 0, func(u string) string { return strings.Replace(u, "/obj?", "/obk?", 1) }, 403, "SignatureDoesNotMatch"},
		{"get signature changed", false, 0, func(u string) string { return strings.Replace(u, "X-Amz-Signature=", "X-Amz-Signature=0", 1)[:len(u)] }, 403, "SignatureDoesNotMatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, false, func(v *sigv4.Verifier) { v.Now = func() time.Time { return time.Now().Add(c.clock) } })
			client := s.minio(t, testAccessKey, testSecretKey, nil)
			var u *url.URL
			var err error
			method, body := http.MethodGet, []byte(nil)
			if c.put {
				method, body = http.MethodPut, data
				u, err = client.PresignedPutObject(context.Background(), testBucket, "obj", time.Hour)
			} else {
				u, err = client.PresignedGetObject(context.Background(), testBucket, "obj", time.Hour, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			target := u.String()
			if c.edit != nil {
				target = c.edit(target)
			}
			status, code := do(t, s, method, target, nil, body)
			if status != c.status || code != c.code {
				t.Fatalf("got %d %s, want %d %s (server: %v)", status, code, c.status, c.code, s.last(t).Err)
			}
			if status == 200 {
				checkSeen(t, s.last(t), body)
			}
		})
	}
}

// TestAWSSDKPresignedSignedHeaders presigns a PUT that signs Content-Type
// and metadata headers: the request must carry them as signed, and may not
// add an unsigned x-amz-* header.
func TestAWSSDKPresignedSignedHeaders(t *testing.T) {
	s := newServer(t, false, nil)
	p, err := s3.NewPresignClient(s.sdk(t, testSecretKey)).PresignPutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String("obj"),
		ContentType: aws.String("text/plain"), Metadata: map[string]string{"owner": "cairn"}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("presigned with headers")
	cases := []struct {
		name   string
		edit   func(http.Header)
		status int
		code   string
	}{
		{"as signed", func(http.Header) {}, 200, ""},
		{"metadata dropped", func(h http.Header) { h.Del("X-Amz-Meta-Owner") }, 403, "SignatureDoesNotMatch"},
		{"metadata changed", func(h http.Header) { h.Set("X-Amz-Meta-Owner", "mallory") }, 403, "SignatureDoesNotMatch"},
		{"content type changed", func(h http.Header) { h.Set("Content-Type", "text/html") }, 403, "SignatureDoesNotMatch"},
		{"copy source added", func(h http.Header) { h.Set("X-Amz-Copy-Source", "/bucket/secret") }, 403, "AccessDenied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := p.SignedHeader.Clone()
			c.edit(h)
			if status, code := do(t, s, p.Method, p.URL, h, body); status != c.status || code != c.code {
				t.Fatalf("got %d %s, want %d %s", status, code, c.status, c.code)
			}
			if c.status == 200 {
				checkSeen(t, s.last(t), body)
			}
		})
	}
}
