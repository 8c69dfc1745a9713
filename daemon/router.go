package daemon

import (
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"cairn/daemon/auth"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/mlflowapi"
	"cairn/daemon/nativeapi"
)

// ServeHTTP routes a request to the surface that owns it, after giving it
// a request id, and counts it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := httpx.NewRecorder(w)
	id := httpx.NewRequestID()
	ctx, operation := httpx.WithOperation(httpx.WithRequestID(r.Context(), id))
	r = r.WithContext(ctx)
	surface, h := s.route(r)
	if surface != "s3" {
		rec.Header().Set("X-Request-Id", id)
	}
	defer httpx.GuardBody(rec, r, s.cfg.BodyTimeout)()
	h.ServeHTTP(rec, r)
	op := operation()
	if op == "" {
		op = surface
	}
	s.metrics.Request(surface, op, r.Method, rec.Status, time.Since(start), rec.Bytes)
}

// route picks the surface of a request. The paths are matched by hand,
// not with http.ServeMux, which would clean keys such as "a//b" or
// "x/../y" and redirect them.
func (s *Server) route(r *http.Request) (string, http.Handler) {
	if isS3Signed(r) {
		return "s3", s.s3
	}
	p := r.URL.EscapedPath()
	switch {
	case p == "/healthz":
		return "health", http.HandlerFunc(s.serveHealth)
	case p == "/readyz":
		return "health", http.HandlerFunc(s.serveReady)
	case p == "/metrics":
		return "metrics", http.HandlerFunc(s.serveMetrics)
	case strings.HasPrefix(p, "/debug/pprof/"):
		return "debug", http.HandlerFunc(s.serveProfile)
	case strings.HasPrefix(p, nativeapi.Prefix):
		return "v1", s.native
	case strings.HasPrefix(p, mlflowapi.Prefix):
		return "mlflow", s.mlflow
	}
	return "s3", s.s3
}

func isS3Signed(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") ||
		r.URL.Query().Has("X-Amz-Signature")
}

// serveHealth answers 200 while the process serves requests.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveReady answers 200 when the node can take writes: it knows a
// leader, the access keys of its configuration exist, its state and chunk
// stores work, and it is not shutting down.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	status := map[string]string{"status": "ready"}
	code := http.StatusOK
	leader, _ := s.raft.Leader()
	switch {
	case s.core.Closing():
		status["status"], code = "shutting down", http.StatusServiceUnavailable
	case leader == "":
		status["status"], code = "no leader", http.StatusServiceUnavailable
	case !s.keysSettled.Load():
		status["status"], code = "access keys not settled", http.StatusServiceUnavailable
	case s.raft.State().Err() != nil:
		status["status"], code = s.raft.State().Err().Error(), http.StatusServiceUnavailable
	default:
		if _, err := s.store.Stats(r.Context()); err != nil {
			status["status"], code = err.Error(), http.StatusServiceUnavailable
		}
	}
	status["leader"] = leader
	httpx.WriteJSON(w, code, status)
}

// serveMetrics writes the metrics in Prometheus' format (metrics.go
// gathers them): to loopback clients, to anyone when the operator opened
// it, and otherwise to keys that may read the whole cluster.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.MetricsOpen && !fromLoopback(r) {
		id, err := s.keys.Authenticate(r)
		if err == nil {
			err = id.Require(auth.Read, "")
		}
		if err != nil {
			e := apierr.Classify(err)
			httpx.WriteJSON(w, e.Status, map[string]string{"code": e.Code, "message": e.Message})
			return
		}
	}
	s.metrics.Handler().ServeHTTP(w, r)
}

// serveProfile serves Go's profiles (heap, goroutines, CPU, ...) to
// admin keys only: a CPU profile costs the node CPU for its duration.
func (s *Server) serveProfile(w http.ResponseWriter, r *http.Request) {
	id, err := s.keys.Authenticate(r)
	if err == nil {
		err = id.RequireRole(auth.Admin)
	}
	if err != nil {
		e := apierr.Classify(err)
		httpx.WriteJSON(w, e.Status, map[string]string{"code": e.Code, "message": e.Message})
		return
	}
	switch name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/"); name {
	case "":
		pprof.Index(w, r)
	case "cmdline":
		http.Error(w, "not served: the command line may hold secrets", http.StatusNotFound)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Handler(name).ServeHTTP(w, r)
	}
}

// fromLoopback reports whether a request came from this machine.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
