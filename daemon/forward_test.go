package daemon

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"cairn/client"
	"cairn/daemon/cluster"
	"cairn/raftfsm"
)

// staleLeaderCluster returns a 3-node cluster in which node2 still
// believes in a leader that has stepped down: node2 never starts an
// election on its own (its timeouts are a minute), the leader hands its
// leadership to the third node, and that node cannot reach node2. It
// returns the indexes of the stale leader, the new one, and node2.
func staleLeaderCluster(t *testing.T) (c *testCluster, stale, leader, f int) {
	t.Helper()
	c = newTestCluster(t, 3, func(cfg *Config) {
		if cfg.NodeID == "node2" {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout = time.Minute, time.Minute
		}
	})
	mkBucket(t, c.nodes[c.leader()], "data")
	stale, f = c.leader(), 2
	leader = 3 - stale - f
	c.ensureSame()
	c.net.cut(c.cfgs[leader].RaftAddr, c.cfgs[f].RaftAddr)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	to := raftfsm.Member{ID: c.cfgs[leader].NodeID, Addr: c.nodes[leader].RaftAddr(), Voter: true}
	if err := c.nodes[stale].Node().TransferLeadership(ctx, to); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	waitFor(t, func() bool { return c.nodes[leader].Node().IsLeader() && !c.nodes[stale].Node().IsLeader() })
	if id, _ := c.nodes[f].Node().Leader(); id != c.cfgs[stale].NodeID {
		t.Fatalf("node2 believes %q leads, not the stale leader %s: the test's premise fails", id, c.cfgs[stale].NodeID)
	}
	return c, stale, leader, f
}

// TestCluster_ForwardToStaleLeader writes through a follower that
// forwards to a node no longer leading. That node proposes nothing and
// says so; the follower must answer "not written" (503
// ServiceUnavailable), never "outcome unknown", and indeed nothing is
// written.
func TestCluster_ForwardToStaleLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c, _, leader, f := staleLeaderCluster(t)
	st, code := putCode(c.nodes[f], "data", "through-stale", []byte("x"))
	if st != http.StatusServiceUnavailable || code != "ServiceUnavailable" {
		t.Fatalf("a write forwarded to a stale leader answered %d %s, want 503 ServiceUnavailable", st, code)
	}
	c.net.heal()
	if st, _ := getConsistent(t, c.nodes[leader], "data", "through-stale"); st != http.StatusNotFound {
		t.Fatalf("the write answered as not written reads %d", st)
	}
	// Once node2 hears from the new leader, writes through it go through.
	waitFor(t, func() bool { id, _ := c.nodes[f].Node().Leader(); return id == c.cfgs[leader].NodeID })
	if st, _ := put(t, c.nodes[f], "data", "after-heal", []byte("y")); st != http.StatusOK {
		t.Fatalf("a write through node2 after healing: %d", st)
	}
}

// TestCluster_ConsistentReadFromStaleLeader reads consistently through a
// follower whose leader stepped down: the answer is 503 until it finds the
// new leader, never 500, and 200 once it does.
func TestCluster_ConsistentReadFromStaleLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c, _, leader, f := staleLeaderCluster(t)
	if st, _ := getConsistent(t, c.nodes[f], "data", "nothing"); st != http.StatusServiceUnavailable {
		t.Fatalf("a consistent read through a follower with a stale leader: %d, want 503", st)
	}
	c.net.heal()
	waitFor(t, func() bool { id, _ := c.nodes[f].Node().Leader(); return id == c.cfgs[leader].NodeID })
	if st, _ := getConsistent(t, c.nodes[f], "data", "nothing"); st != http.StatusNotFound {
		t.Fatalf("a consistent read after healing: %d, want 404", st)
	}
}

// TestCluster_FollowerAnswersNotLeader asks a follower, over the peer
// protocol, to apply a command and for a read index: it answers
// ErrNotLeader, which the asking node recognises as such.
func TestCluster_FollowerAnswersNotLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	l, f := c.nodes[c.leader()], c.nodes[c.follower()]
	cmd, err := raftfsm.Encode(&raftfsm.CreateBucket{Bucket: "b", Time: 1})
	if err != nil {
		t.Fatal(err)
	}
	peers := cluster.NewClient(cluster.Dialer{TCP: l.cfg.Dial, Secret: l.cfg.ClusterSecret})
	if _, err := peers.Apply(t.Context(), f.RaftAddr(), cmd); !errors.Is(err, raftfsm.ErrNotLeader) {
		t.Fatalf("apply on a follower: %v, want ErrNotLeader", err)
	}
	if _, err := peers.Index(t.Context(), f.RaftAddr()); !errors.Is(err, raftfsm.ErrNotLeader) {
		t.Fatalf("read index of a follower: %v, want ErrNotLeader", err)
	}
	if _, err := l.Node().State().Bucket("b"); !errors.Is(err, raftfsm.ErrNoSuchBucket) {
		t.Fatalf("the follower applied the command: %v", err)
	}
}

// TestRouter_SignedS3OwnsItsErrors sends a signed S3 request for a key
// whose path looks like the MLflow API (a bucket named "api") and that
// fails after the key was found (its chunks are gone): the answer is S3's
// XML error, never MLflow's JSON.
func TestRouter_SignedS3OwnsItsErrors(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "api")
	key := "2.0/mlflow-artifacts/artifacts/model.json"
	body := s3Payload(7, 300<<10)
	s3Put(t, c, "api", key, body)
	o, rec, err := srv.Node().State().Object("api", key)
	if err != nil || o.Size != int64(len(body)) {
		t.Fatalf("object: %v", err)
	}
	if err := srv.Store().Delete(t.Context(), rec.Recipe.Distinct()...); err != nil {
		t.Fatal(err)
	}
	st, h, b := s3Raw(t, srv, http.MethodGet, "/api/"+key, nil, nil)
	if st != http.StatusNotFound || h.Get("Content-Type") != "application/xml" || s3ErrorCode(b) != "NoSuchChunk" {
		t.Fatalf("signed GET of a key under /api/2.0/mlflow-artifacts/: %d %s %q", st, h.Get("Content-Type"), b)
	}
	var e client.Error
	if err := jsonUnmarshal(b, &e); err == nil {
		t.Fatalf("the S3 answer decodes as JSON: %q", b)
	}
}
