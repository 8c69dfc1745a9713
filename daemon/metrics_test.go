package daemon

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestMetrics_Page scrapes /metrics after writes through several surfaces:
// every cairn series has HELP and TYPE, the Go and process collectors and
// the build info are there, latency is split by operation (an object PUT
// apart from a chunk PUT), and dedup and compression are two gauges.
func TestMetrics_Page(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.Version = "v9.9.9-test" })
	mkBucket(t, srv, "mets")
	body := bytes.Repeat([]byte("a booster, logged twice "), 40000)
	putBytes(t, srv, "mets", "a", body)
	putBytes(t, srv, "mets", "b", body)
	c, _ := newCountingClient(t, srv.URL())
	if _, err := c.Put(t.Context(), "mets", "c", bytes.NewReader(append(body, 'x')), int64(len(body)+1), nil); err != nil {
		t.Fatal(err)
	}
	page := metricsText(t, srv)
	for _, want := range []string{
		`cairn_build_info{goversion="`, `version="v9.9.9-test"} 1`,
		"go_goroutines ", "process_resident_memory_bytes ",
		`cairn_http_request_duration_seconds_count{operation="object_put",surface="v1"} 2`,
		`cairn_http_request_duration_seconds_count{operation="chunk_missing",surface="v1"}`,
		// Content whose first chunk is stored: a commit by digest
		// (NoSuchFile), then the commit of its chunks.
		`cairn_http_request_duration_seconds_count{operation="commit",surface="v1"} 2`,
		"cairn_dedup_ratio ", "cairn_store_compression_ratio ", "cairn_compactor_backlog_bytes ", "cairn_gc_freed_bytes_total ", `cairn_raft_state{state="Leader"} 1`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Every series of cairn's has its HELP and TYPE.
	for _, name := range regexp.MustCompile(`(?m)^(cairn_[a-z_]+?)(?:_bucket|_sum|_count)?[{ ]`).FindAllStringSubmatch(page, -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name[1], "_bucket"), "_sum"), "_count")
		if !strings.Contains(page, "# HELP "+base+" ") && !strings.Contains(page, "# HELP "+name[1]+" ") {
			t.Errorf("%s has no HELP", name[1])
		}
		if !strings.Contains(page, "# TYPE "+base+" ") && !strings.Contains(page, "# TYPE "+name[1]+" ") {
			t.Errorf("%s has no TYPE", name[1])
		}
	}
	// Two objects of the same bytes and a third sharing most of them: dedup
	// above 2, whatever compression does.
	m := regexp.MustCompile(`(?m)^cairn_dedup_ratio ([0-9.e+]+)$`).FindStringSubmatch(page)
	if m == nil || m[1] < "2" {
		t.Errorf("dedup ratio %v", m)
	}
}
