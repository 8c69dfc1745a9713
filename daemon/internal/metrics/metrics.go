package metrics

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics holds the counters. It is safe for concurrent use; the zero
// value is not: use New.
type Metrics struct {
	mu       sync.Mutex
	requests map[reqKey]*reqStats

	Repaired      atomic.Int64
	EarlyPushed   atomic.Int64 // stored bytes peers took while the write was still being stored
	EarlyDropped  atomic.Int64 // batches not pushed early because a peer was behind
	MissingChunks atomic.Int64
	MissingBytes  atomic.Int64
	GCRuns        atomic.Int64
	GCDeleted     atomic.Int64
	// UploadsExpired counts multipart uploads aborted for their age.
	UploadsExpired atomic.Int64
	// ClusterRefused counts connections the cluster port refused: no TLS
	// certificate the cluster CA signed, or no proof of the secret.
	ClusterRefused atomic.Int64
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

// New returns empty counters.
func New() *Metrics { return &Metrics{requests: map[reqKey]*reqStats{}} }

// Request counts one answered request.
func (m *Metrics) Request(surface, method string, code int, d time.Duration, bytes int64) {
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

// DecreaseTo0 subtracts n from v, stopping at zero.
func DecreaseTo0(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if v.CompareAndSwap(old, max(old-n, 0)) {
			return
		}
	}
}

// Write writes the counters in Prometheus' text format.
func (m *Metrics) Write(w io.Writer) {
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
		{"cairn_chunks_repaired_total", "counter", m.Repaired.Load()},
		{"cairn_push_early_bytes_total", "counter", m.EarlyPushed.Load()},
		{"cairn_push_early_dropped_batches_total", "counter", m.EarlyDropped.Load()},
		{"cairn_repair_missing_chunks", "gauge", m.MissingChunks.Load()},
		{"cairn_repair_missing_bytes", "gauge", m.MissingBytes.Load()},
		{"cairn_gc_runs_total", "counter", m.GCRuns.Load()},
		{"cairn_gc_deleted_chunks_total", "counter", m.GCDeleted.Load()},
		{"cairn_uploads_expired_total", "counter", m.UploadsExpired.Load()},
		{"cairn_cluster_connections_refused_total", "counter", m.ClusterRefused.Load()},
	} {
		fmt.Fprintf(w, "# TYPE %s %s\n%s %d\n", c.name, c.kind, c.name, c.v)
	}
}
