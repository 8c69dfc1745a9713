package daemon

import (
	"net/http"
	"strings"
	"time"
)

// ServeHTTP routes a request to one of the surfaces that share the HTTP
// listener. Requests signed for S3 always go to the S3 API, so that a
// bucket named like a native route still works; the rest go by path.
// The paths are matched by hand, not with http.ServeMux, which would clean
// keys such as "a//b" or "x/../y" and redirect them.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	surface := s.route(rec, r)
	s.metrics.request(surface, r.Method, rec.status, time.Since(start), rec.bytes)
}

func (s *Server) route(w *statusRecorder, r *http.Request) string {
	p := r.URL.EscapedPath()
	if isS3Signed(r) {
		s.serveS3(w, r)
		return "s3"
	}
	switch {
	case p == "/healthz":
		s.serveHealth(w, r)
		return "health"
	case p == "/readyz":
		s.serveReady(w, r)
		return "health"
	case p == "/metrics":
		s.serveMetrics(w, r)
		return "metrics"
	case strings.HasPrefix(p, "/v1/"):
		s.serveAPI(w, r, strings.TrimPrefix(p, "/v1/"))
		return "v1"
	case strings.HasPrefix(p, mlflowPrefix):
		s.serveMLflow(w, r, strings.TrimPrefix(p, mlflowPrefix))
		return "mlflow"
	}
	s.serveS3(w, r)
	return "s3"
}

func isS3Signed(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") ||
		r.URL.Query().Has("X-Amz-Signature")
}

// statusRecorder remembers the status and body length of a response for
// metrics and logs.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes flushes through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
