package metrics

import (
	"context"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds a node's counters and its Prometheus registry. The
// counters the node reads back itself (repair's progress, for the status
// page) are atomics the registry reads; the others are Prometheus'. It is
// safe for concurrent use; the zero value is not: use New.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	Repaired      atomic.Int64
	EarlyPushed   atomic.Int64 // stored bytes peers took while the write was still being stored
	EarlyDropped  atomic.Int64 // batches not pushed early because a peer was behind
	MissingChunks atomic.Int64
	MissingBytes  atomic.Int64
	GCRuns        atomic.Int64
	GCDeleted     atomic.Int64
	GCFreed       atomic.Int64 // stored bytes of the chunks GC deleted
	// GCBacklog is the zero-reference table's length after the last
	// pass: chunks no file needs that some member may still hold.
	GCBacklog atomic.Int64
	// UploadsExpired counts multipart uploads aborted for their age.
	UploadsExpired atomic.Int64
	// ClusterRefused counts connections the cluster port refused: no TLS
	// certificate the cluster CA signed, or no proof of the secret.
	ClusterRefused atomic.Int64
	// The cold tier: chunks (and their stored bytes) this node copied to
	// the bucket, dropped from its disk, and read back.
	TierCopied, TierCopiedBytes   atomic.Int64
	TierEvicted, TierEvictedBytes atomic.Int64
	TierFetched, TierFetchedBytes atomic.Int64
	// Late ETags: MD5s computed after the commit, and the ETags filled
	// in the state.
	ETagsComputed, ETagsFilled atomic.Int64
}

// latencyBuckets are the bounds, in seconds, of the request latency
// histograms: from a cached GET to a multi-GiB upload.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// New returns the metrics of a node of version, with the Go runtime's and
// the process's collectors.
func New(version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cairn_http_requests_total", Help: "HTTP requests answered, by surface, method and status code.",
	}, []string{"surface", "method", "code"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cairn_http_response_bytes_total", Help: "Bytes of HTTP response bodies, by surface, method and status code.",
	}, []string{"surface", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "cairn_http_request_duration_seconds", Buckets: latencyBuckets,
		Help: "Time from a request's headers to the end of its answer, by surface and operation (object_put, chunk_put, object_get, list, ...).",
	}, []string{"surface", "operation"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_build_info", Help: "Always 1; labelled with the version of cairn and of Go that built it.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.bytes, m.latency, build,
	)
	for _, c := range []struct {
		name, help string
		v          *atomic.Int64
		counter    bool
	}{
		{"cairn_chunks_repaired_total", "Chunks fetched from peers and kept: read repair, repair passes, scrub.", &m.Repaired, true},
		{"cairn_push_early_bytes_total", "Stored bytes peers took while the write was still being stored.", &m.EarlyPushed, true},
		{"cairn_push_early_dropped_batches_total", "Chunk batches not pushed early because a peer was behind; replication sent them later.", &m.EarlyDropped, true},
		{"cairn_repair_missing_chunks", "Chunks that committed objects need and this node lacks, as the last repair pass counted them.", &m.MissingChunks, false},
		{"cairn_repair_missing_bytes", "Bytes (before compression) of the chunks this node lacks.", &m.MissingBytes, false},
		{"cairn_gc_runs_total", "Garbage collection passes.", &m.GCRuns, true},
		{"cairn_gc_deleted_chunks_total", "Chunks garbage collection deleted.", &m.GCDeleted, true},
		{"cairn_gc_freed_bytes_total", "Stored bytes of the chunks garbage collection deleted; the compactor returns their space to the file system.", &m.GCFreed, true},
		{"cairn_gc_backlog_chunks", "Chunks no file needs that some member may still hold, as the last pass counted them.", &m.GCBacklog, false},
		{"cairn_uploads_expired_total", "Multipart uploads aborted for their age.", &m.UploadsExpired, true},
		{"cairn_tier_copied_chunks_total", "Chunks this node (as leader) copied to the cold tier's bucket.", &m.TierCopied, true},
		{"cairn_tier_copied_bytes_total", "Stored bytes of the chunks copied to the cold tier.", &m.TierCopiedBytes, true},
		{"cairn_tier_evicted_chunks_total", "Chunks this node dropped from its disk because the cold tier holds them and they went unread.", &m.TierEvicted, true},
		{"cairn_tier_evicted_bytes_total", "Stored bytes of the chunks dropped from this node's disk for the cold tier.", &m.TierEvictedBytes, true},
		{"cairn_tier_fetched_chunks_total", "Chunks read back from the cold tier, verified and kept.", &m.TierFetched, true},
		{"cairn_tier_fetched_bytes_total", "Stored bytes of the chunks read back from the cold tier.", &m.TierFetchedBytes, true},
		{"cairn_etags_computed_total", "MD5 ETags of objects committed without one, computed after the commit (for a reader, a conditional write or the leader's fill); those remembered are not counted again.", &m.ETagsComputed, true},
		{"cairn_etags_filled_total", "ETags of objects committed without one that this node filled in the state (the leader's fill, conditional writes).", &m.ETagsFilled, true},
		{"cairn_cluster_connections_refused_total", "Connections the cluster port refused: no certificate the cluster CA signed, or no proof of the cluster secret.", &m.ClusterRefused, true},
	} {
		read := func() float64 { return float64(c.v.Load()) }
		if c.counter {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, read))
		} else {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: c.name, Help: c.help}, read))
		}
	}
	return m
}

// Request counts one answered request.
func (m *Metrics) Request(surface, operation, method string, code int, d time.Duration, bytes int64) {
	c := codeLabel(code)
	m.requests.WithLabelValues(surface, method, c).Inc()
	m.bytes.WithLabelValues(surface, method, c).Add(float64(bytes))
	m.latency.WithLabelValues(surface, operation).Observe(d.Seconds())
}

func codeLabel(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{byte('0' + code/100), byte('0' + code/10%10), byte('0' + code%10)})
}

// Gauge is a value read when /metrics is scraped.
type Gauge struct {
	Name, Help string
	Labels     map[string]string
	Value      float64
}

// Register adds gauges that collect reads at every scrape, from the
// stores and Raft.
func (m *Metrics) Register(collect func(context.Context) []Gauge) {
	m.reg.MustRegister(gaugeCollector(collect))
}

// gaugeCollector turns Gauges into Prometheus metrics at scrape time. It
// is an unchecked collector: what it yields depends on the moment (the
// Raft state's label, say), so it describes nothing in advance.
type gaugeCollector func(context.Context) []Gauge

func (gaugeCollector) Describe(chan<- *prometheus.Desc) {}

func (g gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, x := range g(ctx) {
		var names, values []string
		for k, v := range x.Labels {
			names, values = append(names, k), append(values, v)
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(x.Name, x.Help, names, nil), prometheus.GaugeValue, x.Value, values...)
	}
}

// Handler serves the metrics in Prometheus' text format (or OpenMetrics,
// when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
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
