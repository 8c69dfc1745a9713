package daemon

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"cairn/client"
)

// TestCLI_Admin runs cairn admin gc, scrub, reclaim and status, alone and
// with --all over two endpoints of which one is down.
func TestCLI_Admin(t *testing.T) {
	srv := newTestServer(t)
	env := cliEnv(srv.URL())
	mkBucket(t, srv, "bkt")
	for i := range 3 {
		putBytes(t, srv, "bkt", fmt.Sprintf("k%d", i), s3Payload(uint64(700+i), 300<<10))
	}
	gone := len(distinctChunks(t, srv, "bkt", "k2"))
	if code := call(t, http.MethodDelete, objURL(srv, "bkt", "k2"), nil, nil); code != 200 && code != 204 {
		t.Fatalf("delete: %d", code)
	}

	// The deleted object's chunks are unreferenced, but written moments
	// ago: the grace period keeps them.
	gc := decodeFirst[client.GCResult](t, mustCLI(t, env, "admin", "gc", "--full", "--json"))
	if !gc.Full || gc.Candidates != int64(gone) || gc.Kept != int64(gone) || gc.Deleted != 0 || gc.Scanned < int64(gone) {
		t.Fatalf("full gc: %+v, want %d candidates kept", gc, gone)
	}
	if out := mustCLI(t, env, "admin", "gc"); !strings.Contains(out, fmt.Sprintf("%d kept for the grace period", gone)) {
		t.Fatalf("gc text: %q", out)
	}
	scrub := decodeFirst[client.ScrubResult](t, mustCLI(t, env, "admin", "scrub", "--json"))
	if scrub.Chunks == 0 || scrub.Corrupt != 0 || scrub.Bytes < 3*300<<10 {
		t.Fatalf("scrub: %+v", scrub)
	}
	if rc := decodeFirst[client.ReclaimResult](t, mustCLI(t, env, "admin", "reclaim", "--json")); rc.Before <= 0 {
		t.Fatalf("reclaim: %+v", rc)
	}
	st := decodeFirst[struct {
		Cluster client.ClusterStatus `json:"cluster"`
		Stats   client.Stats         `json:"stats"`
	}](t, mustCLI(t, env, "admin", "status", "--json"))
	if st.Cluster.Leader == "" || len(st.Cluster.Nodes) != 1 || st.Stats.Objects != 2 {
		t.Fatalf("status: %+v", st)
	}

	t.Run("All", func(t *testing.T) {
		dead := clientDeadEndpoint(t)
		r := runCLI(t, cliEnv(srv.URL(), dead), "admin", "scrub", "--all", "--json", "--retries=-1")
		runs := decodeFirst[[]struct {
			Endpoint string             `json:"endpoint"`
			Result   client.ScrubResult `json:"result"`
			Error    string             `json:"error"`
		}](t, r.stdout)
		if r.code != 1 || len(runs) != 2 || runs[0].Result.Chunks != scrub.Chunks || runs[0].Error != "" || runs[1].Error == "" {
			t.Fatalf("scrub --all with a node down: exit %d %+v", r.code, runs)
		}
		if !strings.Contains(r.err.Error(), "failed on 1 of 2 nodes") {
			t.Fatalf("scrub --all error: %v", r.err)
		}
	})
	if r := runCLI(t, env, "admin", "tier"); r.code == 0 || !strings.Contains(r.err.Error(), "no cold tier") {
		t.Fatalf("admin tier on a node without one: exit %d: %v", r.code, r.err)
	}
	if r := runCLI(t, env, "admin", "nope"); r.code != 2 {
		t.Fatalf("admin nope: exit %d", r.code)
	}
}
