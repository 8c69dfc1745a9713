package sigv4_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"cairn/daemon/internal/sigv4"
)

const (
	testAccessKey = "AKIACAIRNTEST0000001"
	testSecretKey = "cairn+test/secret=key0000000000000000000"
	testRegion    = "us-east-1"
	testBucket    = "bucket"
)

// seen is what the test server's handler observed of one request.
type seen struct {
	Method, Path, RawQuery string
	Payload                sigv4.PayloadKind
	Presigned              bool
	SHA256                 string // of the decoded body
	Len                    int64
	MD5                    string
	Checksums              map[string]string
	Encoding               string
	Err                    error
}

// server is an S3 stand-in on 127.0.0.1 whose handler authenticates with
// a sigv4.Verifier, reads the decoded body and records what it saw. It
// answers like S3: an ETag and the verified checksums, or an XML error.
type server struct {
	*httptest.Server
	v   *sigv4.Verifier
	mu  sync.Mutex
	log []seen
}

// getContent is what the server returns to a GET.
var getContent = []byte("content served to GET requests\n")

// newServer starts a server, over TLS if useTLS; configure may adjust its
// verifier before the first request.
func newServer(t *testing.T, useTLS bool, configure func(*sigv4.Verifier)) *server {
	t.Helper()
	s := &server{v: &sigv4.Verifier{
		Lookup: func(ak string) (string, bool) { return testSecretKey, ak == testAccessKey },
		Region: testRegion,
	}}
	if configure != nil {
		configure(s.v)
	}
	if useTLS {
		s.Server = httptest.NewTLSServer(s)
	} else {
		s.Server = httptest.NewServer(s)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	a, err := s.v.Verify(r)
	if err == nil {
		rec.Payload, rec.Presigned = a.Payload, a.Presigned
		var b *sigv4.Body
		if b, err = a.Body(r); err == nil {
			h := sha256.New()
			rec.Len, err = io.Copy(h, b)
			rec.SHA256 = hex.EncodeToString(h.Sum(nil))
			rec.MD5 = hex.EncodeToString(b.MD5())
			rec.Checksums, rec.Encoding = b.Checksums(), b.ContentEncoding()
		}
	}
	rec.Err = err
	s.mu.Lock()
	s.log = append(s.log, rec)
	s.mu.Unlock()
	if err != nil {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		code, status := s3Code(err)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>%s</Code><Message>%s</Message></Error>", code, html.EscapeString(err.Error()))
		return
	}
	w.Header().Set("ETag", `"`+rec.MD5+`"`)
	for alg, v := range rec.Checksums {
		w.Header().Set(sigv4.ChecksumHeader(alg), v)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, "<ListBucketResult><Name>%s</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>", testBucket)
	case r.Method == http.MethodGet:
		w.Header().Set("Last-Modified", "Fri, 24 May 2013 00:00:00 GMT")
		w.Header().Set("Content-Length", strconv.Itoa(len(getContent)))
		w.Write(getContent)
	}
}

// last returns the last request the server saw.
func (s *server) last(t *testing.T) seen {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log) == 0 {
		t.Fatal("server saw no request")
	}
	return s.log[len(s.log)-1]
}

// s3Code maps a sigv4 error to the S3 error code and HTTP status the daemon
// will answer with.
func s3Code(err error) (string, int) {
	for _, m := range []struct {
		err    error
		code   string
		status int
	}{
		{sigv4.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch", 403},
		{sigv4.ErrInvalidAccessKeyID, "InvalidAccessKeyId", 403},
		{sigv4.ErrRequestTimeTooSkewed, "RequestTimeTooSkewed", 403},
		{sigv4.ErrAccessDenied, "AccessDenied", 403},
		{sigv4.ErrAuthorizationHeaderMalformed, "AuthorizationHeaderMalformed", 400},
		{sigv4.ErrAuthorizationQueryParametersError, "AuthorizationQueryParametersError", 400},
		{sigv4.ErrContentSHA256Mismatch, "XAmzContentSHA256Mismatch", 400},
		{sigv4.ErrBadDigest, "BadDigest", 400},
		{sigv4.ErrInvalidDigest, "InvalidDigest", 400},
		{sigv4.ErrIncompleteBody, "IncompleteBody", 400},
		{sigv4.ErrInvalidRequest, "InvalidRequest", 400},
		{sigv4.ErrNotImplemented, "NotImplemented", 501},
	} {
		if errors.Is(err, m.err) {
			return m.code, m.status
		}
	}
	return "InternalError", 500
}

// payload returns n pseudo-random bytes, the same for the same seed.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// digests returns the hex SHA-256 and hex MD5 of b.
func digests(b []byte) (string, string) {
	s, m := sha256.Sum256(b), md5.Sum(b)
	return hex.EncodeToString(s[:]), hex.EncodeToString(m[:])
}

// checkSeen fails unless the server decoded exactly data without error.
func checkSeen(t *testing.T, got seen, data []byte) {
	t.Helper()
	sha, md := digests(data)
	if got.Err != nil {
		t.Fatalf("server: %v", got.Err)
	}
	if got.Len != int64(len(data)) || got.SHA256 != sha || got.MD5 != md {
		t.Fatalf("server decoded %d bytes sha256 %s md5 %s, want %d bytes %s %s", got.Len, got.SHA256, got.MD5, len(data), sha, md)
	}
}
