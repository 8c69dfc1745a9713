package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

type requestIDKey struct{}

// NewRequestID returns a random request id in the form S3 uses.
func NewRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// WithRequestID returns ctx carrying a request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the id the router gave the request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type operationKey struct{}

// WithOperation returns ctx with room for the operation that the surface
// answering the request names (SetOperation), and a function that reads
// it: the router labels its metrics with it.
func WithOperation(ctx context.Context) (context.Context, func() string) {
	op := new(string)
	return context.WithValue(ctx, operationKey{}, op), func() string { return *op }
}

// SetOperation names what a request does, for metrics: object_put,
// chunk_get, list, ... Without WithOperation it does nothing.
func SetOperation(ctx context.Context, op string) {
	if p, ok := ctx.Value(operationKey{}).(*string); ok {
		*p = op
	}
}

// Recorder remembers the status and body length of a response for metrics
// and logs.
type Recorder struct {
	http.ResponseWriter
	Status      int
	Bytes       int64
	wroteHeader bool
}

// NewRecorder wraps w; the status is 200 until one is written.
func NewRecorder(w http.ResponseWriter) *Recorder {
	return &Recorder{ResponseWriter: w, Status: http.StatusOK}
}

// WriteHeader records the first status written.
func (s *Recorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.Status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes of the body.
func (s *Recorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	n, err := s.ResponseWriter.Write(b)
	s.Bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *Recorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes flushes through.
func (s *Recorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
