package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metrics holds the counters /metrics exposes in Prometheus' text format.
// It is safe for concurrent use.
type metrics struct {
	mu       sync.Mutex
	requests map[reqKey]*reqStats

	repaired      atomic.Int64
	earlyPushed   atomic.Int64 // stored bytes peers took while the write was still being stored
	earlyDropped  atomic.Int64 // batches not pushed early because a peer was behind
	missingChunks atomic.Int64
	missingBytes  atomic.Int64
	gcRuns        atomic.Int64
	gcDeleted     atomic.Int64
	// uploadsExpired counts multipart uploads aborted for their age.
	uploadsExpired atomic.Int64
}

type reqKey struct {
	surface, method string
	code            int
}

// Latency buckets in seconds.
var latencyBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30}

type reqStats struct {
	count   int64
	bytes   int64
	sum     float64
	buckets []int64
}

func newMetrics() *metrics { return &metrics{requests: map[reqKey]*reqStats{}} }

func (m *metrics) request(surface, method string, code int, d time.Duration, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := reqKey{surface, method, code}
	st := m.requests[k]
	if st == nil {
		st = &reqStats{buckets: make([]int64, len(latencyBuckets))}
		m.requests[k] = st
	}
	st.count++
	st.bytes += bytes
	st.sum += d.Seconds()
	for i, b := range latencyBuckets {
		if d.Seconds() <= b {
			st.buckets[i]++
		}
	}
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	s.metrics.write(&b)
	s.writeGauges(r.Context(), &b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	io.WriteString(w, b.String())
}

func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	keys := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.surface+a.method+strconv.Itoa(a.code) < b.surface+b.method+strconv.Itoa(b.code)
	})
	fmt.Fprintln(w, "# TYPE cairn_http_requests_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "cairn_http_requests_total{surface=%q,method=%q,code=\"%d\"} %d\n", k.surface, k.method, k.code, m.requests[k].count)
	}
	fmt.Fprintln(w, "# TYPE cairn_http_response_bytes_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "cairn_http_response_bytes_total{surface=%q,method=%q,code=\"%d\"} %d\n", k.surface, k.method, k.code, m.requests[k].bytes)
	}
	fmt.Fprintln(w, "# TYPE cairn_http_request_duration_seconds histogram")
	for _, k := range keys {
		st := m.requests[k]
		lbl := fmt.Sprintf("surface=%q,method=%q,code=\"%d\"", k.surface, k.method, k.code)
		for i, b := range latencyBuckets {
			fmt.Fprintf(w, "cairn_http_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", lbl, b, st.buckets[i])
		}
		fmt.Fprintf(w, "cairn_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", lbl, st.count)
		fmt.Fprintf(w, "cairn_http_request_duration_seconds_sum{%s} %g\n", lbl, st.sum)
		fmt.Fprintf(w, "cairn_http_request_duration_seconds_count{%s} %d\n", lbl, st.count)
	}
	m.mu.Unlock()
	for _, c := range []struct {
		name, kind string
		v          int64
	}{
		{"cairn_chunks_repaired_total", "counter", m.repaired.Load()},
		{"cairn_push_early_bytes_total", "counter", m.earlyPushed.Load()},
		{"cairn_push_early_dropped_batches_total", "counter", m.earlyDropped.Load()},
		{"cairn_repair_missing_chunks", "gauge", m.missingChunks.Load()},
		{"cairn_repair_missing_bytes", "gauge", m.missingBytes.Load()},
		{"cairn_gc_runs_total", "counter", m.gcRuns.Load()},
		{"cairn_gc_deleted_chunks_total", "counter", m.gcDeleted.Load()},
		{"cairn_uploads_expired_total", "counter", m.uploadsExpired.Load()},
	} {
		fmt.Fprintf(w, "# TYPE %s %s\n%s %d\n", c.name, c.kind, c.name, c.v)
	}
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
	if ns, err := s.node.State().Stats(); err == nil {
		fmt.Fprintf(w, "# TYPE cairn_objects gauge\ncairn_objects %d\n", ns.Objects)
		fmt.Fprintf(w, "# TYPE cairn_logical_bytes gauge\ncairn_logical_bytes %d\n", ns.LogicalBytes)
		fmt.Fprintf(w, "# TYPE cairn_unique_chunk_bytes gauge\ncairn_unique_chunk_bytes %d\n", ns.ChunkBytes)
	}
	rs := s.node.Raft().Stats()
	leader := 0
	if s.node.IsLeader() {
		leader = 1
	}
	fmt.Fprintf(w, "# TYPE cairn_raft_leader gauge\ncairn_raft_leader %d\n", leader)
	for _, k := range []string{"term", "commit_index", "applied_index", "last_log_index"} {
		fmt.Fprintf(w, "# TYPE cairn_raft_%s gauge\ncairn_raft_%s %s\n", k, k, rs[k])
	}
}
