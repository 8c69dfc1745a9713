package s3api

import (
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cairn/daemon/auth"
	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/internal/sigv4"
)

// s3Request is one authenticated S3 request, split into its bucket, key
// and query. Handlers read the body only through auth.Body.
type s3Request struct {
	r      *http.Request
	auth   *sigv4.Auth
	id     auth.Identity
	bucket string
	key    string
	query  url.Values
	body   *trackedBody
}

// s3Handler answers one S3 operation. It writes the answer itself on
// success and returns an error, which ServeHTTP writes in S3's form, when
// it has written nothing.
type s3Handler func(a *API, w http.ResponseWriter, q *s3Request) error

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
	// namespace is the XML namespace of S3's documents.
	s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"
)

// DefaultRegion is the region buckets are reported in when none is
// configured.
const DefaultRegion = "us-east-1"

// Config configures the S3 API.
type Config struct {
	// Auth knows the access keys and the anonymous role.
	Auth *auth.Keys
	// Region, when set, is the only region signatures may name, and the
	// one buckets are reported in; "" accepts any (and reports
	// DefaultRegion).
	Region string
	// Domain enables virtual-host-style requests: <bucket>.<Domain>.
	Domain string
	// ConsistentReads makes reads confirm leadership (or go through the
	// leader) before answering.
	ConsistentReads bool
	// Now is the clock signatures are checked against (default
	// time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// API answers the S3 API. It is safe for concurrent use.
type API struct {
	cfg      Config
	node     *core.Node
	verifier *sigv4.Verifier
	log      *slog.Logger
	hostID   string // the node's id: x-amz-id-2, and HostId in error bodies
}

// New returns the S3 API of node.
func New(node *core.Node, cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &API{
		cfg: cfg, node: node, log: cfg.Logger, hostID: node.ID(),
		verifier: &sigv4.Verifier{Lookup: cfg.Auth.Secret, Region: cfg.Region, Now: cfg.Now},
	}
}

// ServeHTTP answers an S3 request: it splits it into bucket and key (path
// or virtual-host style), authenticates it (SigV4, or the anonymous role
// for a request that is not signed), checks that its key may do what the
// request does, and dispatches it by method and subresource. Errors are
// answered in S3's XML form.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amz-Request-Id", httpx.RequestID(r.Context()))
	w.Header().Set("X-Amz-Id-2", a.hostID)
	q := &s3Request{query: r.URL.Query(), body: &trackedBody{rc: r.Body}}
	// The handlers get a copy of the request reading through the tracked
	// body; the server's own request keeps its body, so that it still
	// knows whether a 100-continue body was asked for.
	if r.Body != nil {
		r2 := *r
		r2.Body = q.body
		q.r = &r2
	} else {
		q.r = r
	}
	// The bucket and key need no credentials: split them first, so that
	// every error names them, those of authentication too.
	splitErr := q.split(a.cfg.Domain)
	httpx.SetOperation(r.Context(), operation(q))
	err := a.authenticate(q)
	if err == nil {
		err = splitErr
	}
	if err == nil {
		err = authorize(q)
	}
	if err == nil {
		err = s3Route(q)(a, w, q)
	}
	if err != nil {
		q.body.drain(r)
		a.writeError(w, q, err)
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
				return apierr.BadRequest("InvalidURI", "bad escape in key: %v", err)
			}
			q.bucket, q.key = b, key
			return nil
		}
	}
	b, k, _ := strings.Cut(p, "/")
	bucket, err := url.PathUnescape(b)
	if err != nil {
		return apierr.BadRequest("InvalidURI", "bad escape in bucket: %v", err)
	}
	key, err := url.PathUnescape(k)
	if err != nil {
		return apierr.BadRequest("InvalidURI", "bad escape in key: %v", err)
	}
	q.bucket, q.key = bucket, key
	return nil
}

// has reports whether the query names a subresource, with or without a
// value.
func (q *s3Request) has(name string) bool { return q.query.Has(name) }

// resource is the path of the bucket or object the request names, ""
// for none (ListBuckets, or a request that did not split).
func (q *s3Request) resource() string {
	switch {
	case q.bucket == "":
		return ""
	case q.key == "":
		return "/" + q.bucket
	}
	return "/" + q.bucket + "/" + q.key
}

// s3Error is S3's XML error body: the code and message, the elements
// that say what the error concerns and what was wrong, then the ids.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Elems     []xmlElem
	Resource  string `xml:"Resource,omitempty"`
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId,omitempty"`
}

// xmlElem is one element of an error body, named by its XMLName.
type xmlElem struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// requestElems are the elements an error of a code names from the
// request itself, unless the error names another (the source of a copy
// names its own bucket and key).
func requestElems(code string, q *s3Request) []apierr.Elem {
	switch code {
	case "NoSuchKey", "NoSuchVersion":
		return []apierr.Elem{{Name: "Key", Value: q.key}}
	case "NoSuchBucket", "BucketNotEmpty", "BucketAlreadyOwnedByYou", "InvalidBucketName":
		return []apierr.Elem{{Name: "BucketName", Value: q.bucket}}
	case "NoSuchUpload", "InvalidPart", "InvalidPartOrder":
		if id := q.query.Get("uploadId"); id != "" {
			return []apierr.Elem{{Name: "UploadId", Value: id}}
		}
	case "InvalidDigest":
		return []apierr.Elem{{Name: "Content-MD5", Value: q.r.Header.Get("Content-Md5")}}
	}
	return nil
}

// writeError answers in S3's XML error form: the elements the error
// carries (apierr.With), those its code names from the request, and the
// resource; a server error is logged once, with the request id. A HEAD
// answer has the status and headers only.
func (a *API) writeError(w http.ResponseWriter, q *s3Request, err error) {
	e := apierr.Classify(err)
	if errors.Is(err, auth.ErrUnauthenticated) {
		e.Status, e.Code = http.StatusForbidden, "AccessDenied" // as AWS answers anonymous requests
	}
	id := httpx.RequestID(q.r.Context())
	if e.Status >= 500 {
		a.log.Error("s3 request failed", "request_id", id, "method", q.r.Method, "resource", q.resource(), "status", e.Status, "err", err)
	}
	body := s3Error{Code: e.Code, Message: e.Message, Resource: q.resource(), RequestID: id, HostID: a.hostID}
	elems := apierr.Elems(err)
	for _, el := range requestElems(e.Code, q) {
		if _, ok := apierr.ElemOf(err, el.Name); !ok {
			elems = append(elems, el)
		}
	}
	var se *sigv4.SignatureError
	if errors.As(err, &se) {
		elems = append(elems, apierr.Elem{Name: "CanonicalRequest", Value: se.CanonicalRequest}, apierr.Elem{Name: "StringToSign", Value: se.StringToSign})
	}
	for _, el := range elems {
		if el.Name == "Resource" {
			body.Resource = el.Value
			continue
		}
		if el.Value != "" {
			body.Elems = append(body.Elems, xmlElem{XMLName: xml.Name{Local: el.Name}, Value: el.Value})
		}
	}
	b, _ := xml.Marshal(body)
	b = append([]byte(xml.Header), b...)
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status)
	if q.r.Method != http.MethodHead {
		w.Write(b)
	}
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
		return nil, apierr.BadRequest("MalformedXML", "the XML body is over %d bytes", limit)
	}
	return b, nil
}
