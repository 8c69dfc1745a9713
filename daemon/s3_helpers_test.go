package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"cairn/cas/chunk"
	"cairn/raftfsm"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Region is the region the test clients sign for.
const s3Region = "us-east-1"

// s3SDK returns an aws-sdk-go-v2 S3 client of srv over plain http, path
// style, with retries off and the checksum defaults of current SDKs. Over
// http the SDK signs the payload's SHA-256.
func s3SDK(t testing.TB, srv *Server, opts ...func(*s3.Options)) *s3.Client {
	t.Helper()
	k := s3Creds(t, srv)
	return s3SDKAt(t, srv.URL(), http.DefaultClient, k.AccessKey, k.SecretKey, opts...)
}

// s3SDKTLS returns an SDK client of the same node served over TLS by an
// httptest server in front of it. Over https the SDK sends aws-chunked
// bodies with a CRC32 trailer.
func s3SDKTLS(t testing.TB, srv *Server, opts ...func(*s3.Options)) *s3.Client {
	t.Helper()
	ts := httptest.NewTLSServer(srv)
	t.Cleanup(ts.Close)
	k := s3Creds(t, srv)
	return s3SDKAt(t, ts.URL, ts.Client(), k.AccessKey, k.SecretKey, opts...)
}

// s3SDKAt builds the client by hand rather than with
// config.LoadDefaultConfig, so that nothing in the environment (profiles,
// AWS_* variables) changes it.
func s3SDKAt(t testing.TB, endpoint string, hc *http.Client, ak, sk string, opts ...func(*s3.Options)) *s3.Client {
	t.Helper()
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc = &http.Client{Transport: lengthChecker{base: base, t: t}}
	cfg := aws.Config{
		Region:                     s3Region,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:                 hc,
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}}, opts...)...)
}

// lengthChecker fails the test on an answer without a Content-Length
// (chunked or close-delimited): every S3 answer must carry one.
type lengthChecker struct {
	base http.RoundTripper
	t    testing.TB
}

func (l lengthChecker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(r)
	if err == nil && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified &&
		(resp.Header.Get("Content-Length") == "" && resp.ContentLength < 0 || len(resp.TransferEncoding) > 0) {
		l.t.Errorf("%s %s: %d answer without Content-Length", r.Method, r.URL, resp.StatusCode)
	}
	return resp, err
}

// s3Minio returns a minio-go client of srv over plain http, which sends
// signed aws-chunked bodies (with trailing checksums).
func s3Minio(t testing.TB, srv *Server) *minio.Client {
	t.Helper()
	k := s3Creds(t, srv)
	c, err := minio.New(srv.Addr(), &minio.Options{
		Creds:           miniocreds.NewStaticV4(k.AccessKey, k.SecretKey, ""),
		Region:          s3Region,
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: true,
		MaxRetries:      1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// s3Code returns the S3 error code and HTTP status of an SDK error.
func s3Code(err error) (string, int) {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re interface{ HTTPStatusCode() int }
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// wantS3Error fails unless err is the S3 error code with the status.
func wantS3Error(t testing.TB, err error, code string, status int) {
	t.Helper()
	gotCode, gotStatus := s3Code(err)
	if err == nil || gotCode != code || gotStatus != status {
		t.Fatalf("got error %v (code %q, status %d), want %s %d", err, gotCode, gotStatus, code, status)
	}
}

// s3Payload returns n pseudo-random bytes from seed.
func s3Payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// s3Bucket creates a bucket through the SDK.
func s3MakeBucket(t testing.TB, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// s3Put writes an object through the SDK and returns its ETag.
func s3Put(t testing.TB, c *s3.Client, bucket, key string, b []byte) string {
	t.Helper()
	out, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(b)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.ETag)
}

// s3Get reads an object through the SDK.
func s3Get(t testing.TB, c *s3.Client, bucket, key string, opts ...func(*s3.GetObjectInput)) []byte {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	for _, o := range opts {
		o(in)
	}
	out, err := c.GetObject(t.Context(), in)
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b
}

// s3Digests returns every key of a bucket with the BLAKE3 digest of its
// content as the node's state holds it: what a rejected request must not
// change.
func s3Digests(t testing.TB, srv *Server, bucket string) string {
	t.Helper()
	res, err := srv.Node().State().List(bucket, raftfsm.ListOptions{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, o := range res.Objects {
		lines = append(lines, fmt.Sprintf("%s %s %d %s", o.Key, o.Digest, o.Size, o.Meta.ETag))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// s3Stored reads an object's bytes back from the node's state and chunk
// store, and checks that the stored digest is the BLAKE3 of them.
func s3Stored(t testing.TB, srv *Server, bucket, key string) []byte {
	t.Helper()
	o, rec, err := srv.Node().State().Object(bucket, key)
	if err != nil {
		t.Fatalf("state of %s/%s: %v", bucket, key, err)
	}
	rd := srv.Store().Open(t.Context(), rec.Recipe)
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	if d := chunk.Sum(b); d != o.Digest || int64(len(b)) != o.Size {
		t.Fatalf("%s/%s: stored digest %s (%d bytes), content hashes to %s (%d bytes)", bucket, key, o.Digest, o.Size, d, len(b))
	}
	return b
}

// s3Raw sends a request signed with the SDK's SigV4 signer over plain
// http, payload hash in x-amz-content-sha256, and returns the status and
// the body of the answer.
func s3Raw(t testing.TB, srv *Server, method, target string, h http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	k := s3Creds(t, srv)
	req := s3SignedRequest(t, srv.URL()+target, method, h, body, k.AccessKey, k.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// s3SignedRequest builds a request signed for ak/sk.
func s3SignedRequest(t testing.TB, u, method string, h http.Header, body []byte, ak, sk string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(), creds, req, hash, "s3", s3Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// s3ErrorCode extracts the Code of an XML error body.
func s3ErrorCode(b []byte) string {
	s := string(b)
	i := strings.Index(s, "<Code>")
	j := strings.Index(s, "</Code>")
	if i < 0 || j < i {
		return ""
	}
	return s[i+len("<Code>") : j]
}

// s3Escape escapes a key for a request path, segment by segment.
func s3Escape(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// s3Digest returns the BLAKE3 digest b3sum prints for b.
func s3Digest(b []byte) string { return chunk.Sum(b).String() }

// s3Header returns a header of the HTTP answer behind an SDK result.
func s3Header(md middleware.Metadata, name string) string {
	resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		return ""
	}
	return resp.Header.Get(name)
}

// s3ErrorElems parses an XML error body into its elements by name, and
// fails the test if it is not one.
func s3ErrorElems(t testing.TB, b []byte) map[string]string {
	t.Helper()
	var doc struct {
		XMLName xml.Name
		Elems   []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.XMLName.Local != "Error" {
		t.Fatalf("not an XML error (%v): %s", err, b)
	}
	out := map[string]string{}
	for _, e := range doc.Elems {
		if _, dup := out[e.XMLName.Local]; dup {
			t.Fatalf("element %s twice: %s", e.XMLName.Local, b)
		}
		out[e.XMLName.Local] = e.Value
	}
	return out
}

// wantElems fails unless an error body has the elements of want, and
// none of those want maps to "" (which must be absent).
func wantElems(t testing.TB, b []byte, want map[string]string) {
	t.Helper()
	got := s3ErrorElems(t, b)
	for k, v := range want {
		if g, ok := got[k]; v == "" && ok || v != "" && g != v {
			t.Fatalf("element %s: got %q (present %v), want %q in %s", k, g, ok, v, b)
		}
	}
}

// s3StatusOf returns the HTTP status of the answer behind an SDK result.
func s3StatusOf(md middleware.Metadata) int {
	resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		return 0
	}
	return resp.StatusCode
}

func itoa(n int) string { return fmt.Sprint(n) }

// s3Creds returns the admin key the node was seeded with.
func s3Creds(t testing.TB, srv *Server) S3Key {
	t.Helper()
	k, err := srv.AdminKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
