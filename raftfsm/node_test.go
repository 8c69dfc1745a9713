package raftfsm

import (
	"context"
	"errors"
	"testing"
	"time"

	"cairn/cas/chunk"
)

func testFile(content string) File {
	b := []byte(content)
	return File{Digest: chunk.Sum(b), Size: int64(len(b)), Recipe: chunk.Recipe{{Digest: chunk.Sum(b), Size: uint32(len(b))}}}
}

func mustApply(t testing.TB, n *Node, c Command) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r, err := n.Apply(ctx, c)
	if err != nil {
		t.Fatalf("apply %v: %v", c.Op(), err)
	}
	if r.Err != nil {
		t.Fatalf("apply %v rejected: %v", c.Op(), r.Err)
	}
	return r
}

func TestNode_ReplicatesAndRestarts(t *testing.T) {
	c := newTestClusterWith(t, 3, ClusterOptions{Configure: relaxed})
	ctx := t.Context()
	leader := c.Leader(ctx)
	mustApply(t, leader, &CreateBucket{Bucket: "mlflow", Time: 1})
	f := testFile("booster bytes")
	mustApply(t, leader, &PutObject{Bucket: "mlflow", Key: "1/0123456789abcdef0123456789abcdef/artifacts/model/model.xgb", File: f, Time: 2})
	if err := c.EnsureSame(ctx); err != nil {
		t.Fatal(err)
	}
	for i, n := range c.Nodes {
		if n.IsLeader() {
			continue
		}
		if _, err := n.Apply(ctx, &CreateBucket{Bucket: "other"}); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("apply on follower %d: %v", i, err)
		}
	}
	// Restart a follower: it resumes at its applied index.
	var f1 int
	for i, n := range c.Nodes {
		if !n.IsLeader() {
			f1 = i
			break
		}
	}
	before := c.Nodes[f1].State().Applied()
	c.Stop(f1)
	mustApply(t, c.Leader(ctx), &PutObject{Bucket: "mlflow", Key: "k2", File: testFile("second"), Time: 3})
	n := c.Restart(f1)
	if got := n.State().Applied(); got != before {
		t.Fatalf("restarted node at index %d, was %d", got, before)
	}
	if err := c.EnsureSame(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := n.State().Stats()
	if st.Objects != 2 || st.Files != 2 || st.Buckets != 1 {
		t.Fatalf("stats after restart %+v", st)
	}
}

// TestNode_ApplyRefused proves that Apply proposes nothing it should not:
// bytes that do not decode (they would stop every node at Apply) and
// commands whose context is already done.
func TestNode_ApplyRefused(t *testing.T) {
	n := newTestNode(t)
	mustApply(t, n, &CreateBucket{Bucket: "bkt"})
	before := n.State().Applied()
	if _, err := n.ApplyEncoded(t.Context(), []byte{byte(OpPutObject), '{'}); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("undecodable command: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := n.Apply(ctx, &CreateBucket{Bucket: "late"}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("apply with a done context: %v", err)
	}
	if err := n.Barrier(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.State().Bucket("late"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("a refused command was applied: %v", err)
	}
	if got := n.State().Applied(); got != before {
		t.Fatalf("applied moved from %d to %d", before, got)
	}
}
