package daemon

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"cairn/client"
	"cairn/raftfsm"
)

// TestCluster_IdleLag: once a cluster is idle, cairn cluster status shows
// a lag of 0 on every node, asked through any node, although Raft's commit
// index counts entries the state never applies: the no-op of every new
// leader, the barriers of consistent reads, configuration changes.
func TestCluster_IdleLag(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	l := c.leader()
	mkBucket(t, c.nodes[l], "lag")
	for i, n := range c.nodes {
		if st, _ := put(t, n, "lag", fmt.Sprintf("k%d", i), []byte("written through every node")); st != http.StatusOK {
			t.Fatalf("put through node %d: %d", i, st)
		}
	}
	if st, _ := getConsistent(t, c.nodes[c.follower()], "lag", "k0"); st != http.StatusOK {
		t.Fatalf("consistent read: %d", st)
	}
	// A new leader appends a no-op, which no state machine sees.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	f := c.follower()
	to := raftfsm.Member{ID: c.cfgs[f].NodeID, Addr: c.nodes[f].RaftAddr(), Voter: true}
	if err := c.nodes[l].Node().TransferLeadership(ctx, to); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	waitFor(t, func() bool { return c.nodes[f].Node().IsLeader() })
	if st, _ := getConsistent(t, c.nodes[l], "lag", "k1"); st != http.StatusOK {
		t.Fatalf("consistent read: %d", st)
	}

	for i, n := range c.nodes {
		cl, err := client.New(client.Config{Endpoints: []string{n.URL()}, Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		var last client.ClusterStatus
		ok := func() bool {
			if last, err = cl.Admin().ClusterStatus(t.Context()); err != nil || len(last.Nodes) != 3 {
				return false
			}
			for _, ns := range last.Nodes {
				if ns.Error != "" || ns.Lag != 0 || ns.Applied != last.Nodes[0].Applied {
					return false
				}
			}
			return n.Node().Behind() == 0
		}
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("status through node %d never shows an idle cluster (err %v, own lag %d): %+v", i, err, n.Node().Behind(), last)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Idle, it stays so.
		if !ok() {
			t.Fatalf("status through node %d: lag came back: %+v", i, last)
		}
		// The premise: Raft's commit index is past what the state
		// applied, so the lag counted entries, not index differences.
		if st := n.Node().Status(); st.CommitIndex <= n.Node().State().Applied() {
			t.Fatalf("node %d: commit %d, applied %d: nothing for the lag to skip", i, st.CommitIndex, n.Node().State().Applied())
		}
	}
}
