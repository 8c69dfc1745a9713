package daemon

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cairn/daemon/upkeep"
	"cairn/raftfsm"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestUploads_Expire leaves an S3 multipart upload unfinished past the
// expiry: the leader aborts it, GC then frees its part's chunks, and an
// upload younger than the expiry (here an MLflow one) keeps its part.
func TestUploads_Expire(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	srv := newTestServer(t, func(c *Config) { c.Now, c.GCGrace, c.UploadExpiry = clock.Now, time.Minute, time.Hour })
	ctx := t.Context()
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "exp")
	stale := s3CreateUpload(t, c, "exp", "crashed/model.xgb")
	part := s3Payload(21, 5<<20)
	s3UploadParts(t, c, "exp", "crashed/model.xgb", stale, [][]byte{part}, types.ChecksumAlgorithmCrc32)

	clock.Advance(2 * time.Hour)
	created := mlflowCreateUpload(t, srv, "1/"+run1+"/artifacts/model", 1)
	resp, err := http.DefaultClient.Do(mustRequest(t, http.MethodPut, created.Credentials[0].URL, "young part"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("young part: %v %v", resp, err)
	}
	resp.Body.Close()
	before, _ := srv.Store().Stats(ctx)

	n, err := srv.upkeep.ExpireUploads(ctx)
	if err != nil || n != 1 {
		t.Fatalf("expire: %d uploads, %v; want 1", n, err)
	}
	if _, _, err := srv.Node().State().Upload(stale); !errors.Is(err, raftfsm.ErrNoSuchUpload) {
		t.Fatalf("the stale upload is still there: %v", err)
	}
	if _, parts, err := srv.Node().State().Upload(created.UploadID); err != nil || len(parts) != 1 {
		t.Fatalf("the young upload: %d parts, %v", len(parts), err)
	}
	if n, err := srv.upkeep.ExpireUploads(ctx); err != nil || n != 0 {
		t.Fatalf("second pass: %d uploads, %v; want none", n, err)
	}
	if m := metricsText(t, srv); !strings.Contains(m, "cairn_uploads_expired_total 1\n") {
		t.Fatalf("metrics do not count the expired upload:\n%s", m)
	}

	clock.Advance(2 * time.Hour) // past GC's grace for the part's chunks
	if _, err := srv.upkeep.GC(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := srv.Store().Stats(ctx)
	if freed := before.LogicalBytes - after.LogicalBytes; freed != int64(len(part)) {
		t.Fatalf("gc freed %d logical bytes, want the stale part's %d", freed, len(part))
	}
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func metricsText(t *testing.T, srv *Server) string {
	t.Helper()
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestUploads_ExpireByLeaderOnly: in a cluster only the leader aborts old
// uploads, and every node then agrees the upload is gone.
func TestUploads_ExpireByLeaderOnly(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.Now, cfg.UploadExpiry = clock.Now, time.Hour })
	l := c.nodes[c.leader()]
	created := mlflowCreateUpload(t, l, "1/"+run1+"/artifacts/model", 1)
	clock.Advance(2 * time.Hour)
	f := c.nodes[c.follower()]
	if n, err := f.upkeep.ExpireUploads(t.Context()); err != nil || n != 0 {
		t.Fatalf("a follower aborted %d uploads (%v)", n, err)
	}
	if n, err := l.upkeep.ExpireUploads(t.Context()); err != nil || n != 1 {
		t.Fatalf("the leader aborted %d uploads (%v), want 1", n, err)
	}
	c.ensureSame()
	for i, n := range c.nodes {
		if _, _, err := n.Node().State().Upload(created.UploadID); !errors.Is(err, raftfsm.ErrNoSuchUpload) {
			t.Fatalf("node %d still has the upload: %v", i, err)
		}
	}
}

// TestUploads_ExpireInBackground leaves more uploads unfinished than one
// expiry batch holds and lets the node's own loop abort them all.
func TestUploads_ExpireInBackground(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.UploadExpiry = time.Second })
	const n = upkeep.ExpireBatch + 40
	for i := range n {
		mlflowCreateUpload(t, srv, fmt.Sprintf("1/%s/artifacts/f%d", run1, i), 1)
	}
	var st struct{ Uploads int64 }
	deadline := time.Now().Add(30 * time.Second)
	for {
		call(t, http.MethodGet, srv.URL()+"/v1/stats", nil, &st)
		if st.Uploads == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d uploads left 30 s after they expired", st.Uploads, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m := metricsText(t, srv); !strings.Contains(m, fmt.Sprintf("cairn_uploads_expired_total %d\n", n)) {
		t.Fatalf("metrics do not count %d expired uploads", n)
	}
}
