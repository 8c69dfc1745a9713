package daemon

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"cairn/cas/chunk"
	"cairn/daemon/upkeep"
)

// TestGC_PrunesZeroTableOnceGoneEverywhere: every node collects the
// chunks of a deleted object on its own; the zero-reference table, which
// every node's GC pages through, forgets a chunk only once no member
// holds it, and never while a member that may hold it does not answer.
// The leader's question does not keep the chunks alive on the followers.
func TestGC_PrunesZeroTableOnceGoneEverywhere(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	c := newTestCluster(t, 3, steadyLeader, func(cfg *Config) { cfg.Now, cfg.GCGrace = clock.Now, time.Minute })
	l := c.leader()
	f1 := c.follower()
	f2 := c.follower(f1)
	leader := c.nodes[l]
	mkBucket(t, leader, "gcz")
	keep, drop := content("keep", 3<<20), content("drop", 3<<20)
	putBytes(t, leader, "gcz", "keep", keep)
	putBytes(t, leader, "gcz", "drop", drop)
	c.ensureSame()
	if st := call(t, http.MethodDelete, objURL(leader, "gcz", "drop"), nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	c.ensureSame()
	zero, err := leader.Node().State().ZeroChunks(1 << 20)
	if err != nil || len(zero) == 0 {
		t.Fatalf("zero-reference table after the delete: %d entries (%v)", len(zero), err)
	}
	n := int64(len(zero))
	clock.Advance(2 * time.Hour)

	gc := func(i int) upkeep.GCResult {
		t.Helper()
		res, err := c.nodes[i].upkeep.GC(t.Context())
		if err != nil {
			t.Fatalf("gc on node %d: %v", i, err)
		}
		return res
	}
	if res := gc(l); res.Deleted != n || res.FreedBytes <= 0 || res.Pruned != 0 || res.Backlog != n {
		t.Fatalf("leader's gc while the followers hold the chunks: %+v; want %d deleted, none pruned", res, n)
	}
	// The leader asked f1 about its chunks; that must not hold them
	// for the grace period (the clock has not moved).
	if res := gc(f1); res.Deleted != n || res.Pruned != 0 {
		t.Fatalf("follower's gc right after the leader asked: %+v; want %d deleted", res, n)
	}
	// f2 still holds them, then does not answer: nothing is pruned.
	if res := gc(l); res.Pruned != 0 || res.Backlog != n {
		t.Fatalf("leader's gc while f2 holds the chunks: %+v", res)
	}
	c.stop(f2)
	if res := gc(l); res.Pruned != 0 || res.Backlog != n {
		t.Fatalf("leader's gc while f2 is down: %+v", res)
	}
	c.restart(f2)
	// A node counts every chunk as touched when it starts.
	clock.Advance(2 * time.Hour)
	if res := gc(f2); res.Deleted != n {
		t.Fatalf("f2's gc: %+v; want %d deleted", res, n)
	}
	if res := gc(l); res.Pruned != n || res.Backlog != 0 {
		t.Fatalf("leader's gc once the chunks are gone everywhere: %+v; want %d pruned", res, n)
	}
	c.ensureSame()
	for i, srv := range c.nodes {
		if z, err := srv.Node().State().ZeroChunks(1); err != nil || len(z) != 0 {
			t.Fatalf("node %d's zero-reference table: %d entries (%v)", i, len(z), err)
		}
		if missing, _ := srv.Store().Lacks(t.Context(), []chunk.Digest{chunk.Sum(drop[:1])}); len(missing) != 1 {
			t.Fatalf("node %d: the lookup of a chunk it never had says it has it", i)
		}
		if st, b := getConsistent(t, srv, "gcz", "keep"); st != 200 || !bytes.Equal(b, keep) {
			t.Fatalf("node %d: kept object after gc: %d", i, st)
		}
	}
}

// TestGC_FullWalkFindsUnreferencedChunks: a chunk stored but never
// committed (a client that died between its chunk uploads and its
// commit) is in no zero-reference table; only the full walk, run on its
// own schedule, collects it.
func TestGC_FullWalkFindsUnreferencedChunks(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	srv := newTestServer(t, func(c *Config) { c.Now, c.GCGrace = clock.Now, time.Minute })
	orphan := content("orphan", 64<<10)
	d := chunk.Sum(orphan)
	if st := call(t, http.MethodPut, srv.URL()+"/v1/chunks/"+d.String(), bytes.NewReader(orphan), nil); st/100 != 2 {
		t.Fatalf("chunk put: %d", st)
	}
	clock.Advance(2 * time.Hour)
	res, err := srv.upkeep.GC(t.Context())
	if err != nil || res.Deleted != 0 || res.Scanned != 0 {
		t.Fatalf("incremental gc: %+v (%v); want nothing scanned", res, err)
	}
	if missing, _ := srv.Store().Lacks(t.Context(), []chunk.Digest{d}); len(missing) != 0 {
		t.Fatal("incremental gc deleted a chunk it had no entry for")
	}
	res, err = srv.upkeep.FullGC(t.Context())
	if err != nil || res.Deleted != 1 || !res.Full {
		t.Fatalf("full gc: %+v (%v); want the orphan deleted", res, err)
	}
	if missing, _ := srv.Store().Lacks(t.Context(), []chunk.Digest{d}); len(missing) != 1 {
		t.Fatal("the orphan chunk survived the full walk")
	}
}
