package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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
	r = r.WithContext(httpx.WithRequestID(r.Context(), id))
	surface, h := s.route(r)
	if surface != "s3" {
		rec.Header().Set("X-Request-Id", id)
	}
	defer httpx.GuardBody(rec, r, s.cfg.BodyTimeout)()
	h.ServeHTTP(rec, r)
	s.metrics.Request(surface, r.Method, rec.Status, time.Since(start), rec.Bytes)
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

// serveMetrics writes the counters and the gauges of the stores and Raft
// in Prometheus' text format: to loopback clients, to anyone when the
// operator opened it, and otherwise to keys that may read the whole
// cluster.
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
	var b strings.Builder
	s.metrics.Write(&b)
	s.writeGauges(r.Context(), &b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	io.WriteString(w, b.String())
}

// writeGauges reports the store and Raft as they are now.
func (s *Server) writeGauges(ctx context.Context, w io.Writer) {
	if st, err := s.store.Stats(ctx); err == nil {
		fmt.Fprintf(w, "# TYPE cairn_store_chunks gauge\ncairn_store_chunks %d\n", st.Chunks)
		fmt.Fprintf(w, "# TYPE cairn_store_logical_bytes gauge\ncairn_store_logical_bytes %d\n", st.LogicalBytes)
		fmt.Fprintf(w, "# TYPE cairn_store_stored_bytes gauge\ncairn_store_stored_bytes %d\n", st.StoredBytes)
	}
	if free, err := s.store.FreeSpace(); err == nil {
		fmt.Fprintf(w, "# TYPE cairn_store_free_bytes gauge\ncairn_store_free_bytes %d\n", free)
	}
	if ns, err := s.raft.State().Stats(); err == nil {
		fmt.Fprintf(w, "# TYPE cairn_objects gauge\ncairn_objects %d\n", ns.Objects)
		fmt.Fprintf(w, "# TYPE cairn_logical_bytes gauge\ncairn_logical_bytes %d\n", ns.LogicalBytes)
		fmt.Fprintf(w, "# TYPE cairn_unique_chunk_bytes gauge\ncairn_unique_chunk_bytes %d\n", ns.ChunkBytes)
	}
	leader := 0
	if s.raft.IsLeader() {
		leader = 1
	}
	fmt.Fprintf(w, "# TYPE cairn_raft_leader gauge\ncairn_raft_leader %d\n", leader)
	st := s.raft.Status()
	for _, g := range []struct {
		name string
		v    uint64
	}{{"term", st.Term}, {"commit_index", st.CommitIndex}, {"applied_index", st.AppliedIndex}, {"last_log_index", st.LastLogIndex}} {
		fmt.Fprintf(w, "# TYPE cairn_raft_%s gauge\ncairn_raft_%s %d\n", g.name, g.name, g.v)
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
