package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cairn/daemon/internal/sigv4"
)

// s3Request is one authenticated S3 request, split into its bucket, key
// and query. Handlers read the body only through auth.Body.
type s3Request struct {
	r      *http.Request
	auth   *sigv4.Auth
	bucket string
	key    string
	query  url.Values
	body   *trackedBody
}

// s3RequestKey is the context key of the *s3Request, so that error
// answers written deep in the read path can name the bucket and key.
type s3RequestKey struct{}

// s3Handler answers one S3 operation. It writes the answer itself on
// success and returns an error, which serveS3 writes in S3's form, when it
// has written nothing.
type s3Handler func(s *Server, w http.ResponseWriter, q *s3Request) error

// s3 limits shared by the handlers.
const (
	// maxS3XMLBody bounds XML request bodies: a Complete naming 10000
	// parts with checksums, or a Delete of 1000 keys of 1024 bytes.
	maxS3XMLBody = 4 << 20
	// maxS3SinglePut is the largest PutObject or part, as S3.
	maxS3SinglePut = 5 << 30
	// maxS3Drain is how much of an unread request body is read and
	// dropped before an error answer, so that the client, still sending,
	// gets to read the answer.
	maxS3Drain = 64 << 20
	// s3Namespace is the XML namespace of S3's documents.
	s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"
)

// serveS3 answers the S3 API: it gives the request an id, authenticates
// it, splits it into bucket and key (path or virtual-host style) and
// dispatches it by method and subresource.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amz-Request-Id", newRequestID())
	q := &s3Request{query: r.URL.Query(), body: &trackedBody{rc: r.Body}}
	// The handlers get a copy of the request reading through the tracked
	// body; the server's own request keeps its body, so that it still
	// knows whether a 100-continue body was asked for.
	r = r.WithContext(context.WithValue(r.Context(), s3RequestKey{}, q))
	if r.Body != nil {
		r.Body = q.body
	}
	q.r = r
	auth, err := s.sigv4.Verify(r)
	if err == nil {
		q.auth = auth
		err = q.split(s.cfg.S3Domain)
	}
	if err == nil {
		err = s3Route(q)(s, w, q)
	}
	if err != nil {
		q.body.drain(r)
		s.writeS3Error(w, r, err)
	}
}

// split finds the bucket and key of the request: from the Host header
// when it is a subdomain of domain (virtual-host style), else from the
// first path segment (path style). The path is split before unescaping,
// so that an escaped slash stays in the key.
func (q *s3Request) split(domain string) error {
	p := strings.TrimPrefix(q.r.URL.EscapedPath(), "/")
	if domain != "" {
		host := q.r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if b, ok := strings.CutSuffix(strings.ToLower(host), "."+strings.ToLower(domain)); ok && b != "" {
			key, err := url.PathUnescape(p)
			if err != nil {
				return badRequest("InvalidURI", "bad escape in key: %v", err)
			}
			q.bucket, q.key = b, key
			return nil
		}
	}
	b, k, _ := strings.Cut(p, "/")
	bucket, err := url.PathUnescape(b)
	if err != nil {
		return badRequest("InvalidURI", "bad escape in bucket: %v", err)
	}
	key, err := url.PathUnescape(k)
	if err != nil {
		return badRequest("InvalidURI", "bad escape in key: %v", err)
	}
	q.bucket, q.key = bucket, key
	return nil
}

// has reports whether the query names a subresource, with or without a
// value.
func (q *s3Request) has(name string) bool { return q.query.Has(name) }

// resource is the path of the bucket or object the request names.
func (q *s3Request) resource() string {
	switch {
	case q.bucket == "":
		return "/"
	case q.key == "":
		return "/" + q.bucket
	}
	return "/" + q.bucket + "/" + q.key
}

// newRequestID returns a random request id in the form S3 uses.
func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// s3Error is S3's XML error body.
type s3Error struct {
	XMLName          xml.Name `xml:"Error"`
	Code             string   `xml:"Code"`
	Message          string   `xml:"Message"`
	Key              string   `xml:"Key,omitempty"`
	BucketName       string   `xml:"BucketName,omitempty"`
	Resource         string   `xml:"Resource,omitempty"`
	CanonicalRequest string   `xml:"CanonicalRequest,omitempty"`
	StringToSign     string   `xml:"StringToSign,omitempty"`
	RequestID        string   `xml:"RequestId"`
}

// writeS3Error answers in S3's XML error form. A HEAD answer has the
// status and headers only.
func (s *Server) writeS3Error(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	body := s3Error{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: requestID(w, r)}
	if q, ok := r.Context().Value(s3RequestKey{}).(*s3Request); ok {
		body.Resource = q.resource()
		switch e.Code {
		case "NoSuchKey":
			body.Key = q.key
		case "NoSuchBucket", "BucketNotEmpty", "BucketAlreadyOwnedByYou", "InvalidBucketName":
			body.BucketName = q.bucket
		}
	}
	var se *sigv4.SignatureError
	if errors.As(err, &se) {
		body.CanonicalRequest, body.StringToSign = se.CanonicalRequest, se.StringToSign
	}
	b, _ := xml.Marshal(body)
	b = append([]byte(xml.Header), b...)
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// requestID returns the id serveS3 gave the request, or the client's
// X-Request-Id on other surfaces.
func requestID(w http.ResponseWriter, r *http.Request) string {
	if id := w.Header().Get("X-Amz-Request-Id"); id != "" {
		return id
	}
	return r.Header.Get("X-Request-Id")
}

// writeXML answers with an XML document, buffered so that the answer
// carries its Content-Length.
func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		b, _ = xml.Marshal(s3Error{Code: "InternalError", Message: "encode response: " + err.Error()})
		status = http.StatusInternalServerError
	}
	b = append([]byte(xml.Header), b...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeEmpty answers with a status and no body.
func writeEmpty(w http.ResponseWriter, status int) {
	if status != http.StatusNoContent && status != http.StatusNotModified {
		w.Header().Set("Content-Length", "0")
	}
	w.WriteHeader(status)
}

// trackedBody wraps a request body to know whether a handler read it.
type trackedBody struct {
	rc      io.ReadCloser
	touched bool
}

// Read reads the body and remembers that it was read.
func (b *trackedBody) Read(p []byte) (int, error) {
	if b.rc == nil {
		return 0, io.EOF
	}
	b.touched = true
	return b.rc.Read(p)
}

// Close closes the body.
func (b *trackedBody) Close() error {
	if b.rc == nil {
		return nil
	}
	return b.rc.Close()
}

// drain reads and drops what is left of the body (up to maxS3Drain), so
// that a client still sending reads the error answer instead of a reset
// connection. A body nobody read that waits for 100-continue is left
// alone: the client has not sent it, and the server closes the
// connection after the answer.
func (b *trackedBody) drain(r *http.Request) {
	if b.rc == nil || r.ContentLength == 0 {
		return
	}
	if !b.touched && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	io.CopyN(io.Discard, b.rc, maxS3Drain)
}

// s3Body returns the verified body of an XML request, at most limit
// bytes.
func s3Body(q *s3Request, limit int64) ([]byte, error) {
	body, err := q.auth.Body(q.r)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, badRequest("MalformedXML", "the XML body is over %d bytes", limit)
	}
	return b, nil
}
