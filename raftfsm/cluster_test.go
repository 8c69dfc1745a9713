package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func leaderIndex(t *testing.T, c *Cluster) int {
	t.Helper()
	l := c.Leader(t.Context())
	i := slices.Index(c.Nodes, l)
	if i < 0 {
		t.Fatal("leader is not one of the nodes")
	}
	return i
}

// relaxed lengthens TestConfig's timeouts: with the race detector on two
// busy cores, 50 ms leases expire under load and leadership moves about.
func relaxed(cfg *Config) {
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
}

// applyLeader applies c on whoever leads, again when the node it took for
// the leader no longer is.
func applyLeader(t *testing.T, cl *Cluster, c Command) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		r, err := cl.Leader(ctx).Apply(ctx, c)
		// Not proposed, or leadership lost while committing: the
		// commands the tests pass may apply twice.
		if (errors.Is(err, ErrNotLeader) || errors.Is(err, ErrUnknownOutcome)) && ctx.Err() == nil {
			continue
		}
		if err != nil || r.Err != nil {
			t.Fatalf("apply %v: %v %v", c.Op(), err, r.Err)
		}
		return r
	}
}

func ensureSame(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := c.EnsureSame(ctx); err != nil {
		t.Fatal(err)
	}
}

// onEvery checks that every running node holds bucket/key, or lacks it.
func onEvery(t *testing.T, c *Cluster, bucket, key string, present bool) {
	t.Helper()
	for i, n := range c.Nodes {
		if n == nil {
			continue
		}
		_, _, err := n.State().Object(bucket, key)
		if present && err != nil || !present && !errors.Is(err, ErrNotFound) {
			t.Fatalf("node %d: %s/%s: %v (want present %v)", i, bucket, key, err, present)
		}
	}
}

// TestCluster_Replicates proves that writes of every kind made through the
// leader reach every node byte for byte.
func TestCluster_Replicates(t *testing.T) {
	c := newTestClusterWith(t, 3, ClusterOptions{Configure: relaxed})
	applyLeader(t, c, &CreateBucket{Bucket: "mlflow", IfNotExists: true, Time: 1})
	dir := "1/" + runA + "/artifacts/model/"
	applyLeader(t, c, &PutObject{Bucket: "mlflow", Key: dir + "conda.yaml", File: testFile("conda"), Time: 2})
	applyLeader(t, c, &PutObject{Bucket: "mlflow", Key: dir + "MLmodel", File: testFile("MLmodel"), Time: 3,
		Model: &Model{RunID: runA, ModelUUID: "u1", Flavors: map[string]map[string]any{"xgboost": {"xgb_version": "2.1"}}}})
	applyLeader(t, c, &CopyObject{SrcBucket: "mlflow", SrcKey: dir + "MLmodel", Bucket: "mlflow", Key: "copy/MLmodel", Time: 4})
	applyLeader(t, c, &CreateUpload{UploadID: "up", Bucket: "mlflow", Key: "big", Time: 5})
	p1, p2 := bigPart("p1"), smallFile("p2")
	applyLeader(t, c, &PutPart{UploadID: "up", Number: 1, File: p1, ETag: `"1"`})
	applyLeader(t, c, &PutPart{UploadID: "up", Number: 2, File: p2, ETag: `"2"`})
	applyLeader(t, c, &CompleteUpload{UploadID: "up", Bucket: "mlflow", Key: "big", File: concat(p1, p2), ETag: `"x-2"`,
		Parts: []CompletePart{{1, `"1"`, p1.Digest}, {2, `"2"`, p2.Digest}}})
	applyLeader(t, c, &PutRef{Name: "prod", Target: dir})
	r, err := c.Leader(t.Context()).Apply(t.Context(), &PutRef{Name: "prod", Target: "x", IfVersion: u64(0)})
	if err != nil || !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("conflicting ref through the node: %+v, %v", r, err)
	}
	ensureSame(t, c)
	for i, n := range c.Nodes {
		if e, err := n.State().ModelByID("u1"); err != nil || e.Model.Flavors["xgboost"]["xgb_version"] != "2.1" {
			t.Fatalf("node %d: model %+v, %v", i, e, err)
		}
	}
}

// TestCluster_Partition proves that a leader cut off from the others
// cannot commit: its Apply fails with ErrNotLeader or ErrUnknownOutcome,
// never success, and once healed it drops what it proposed alone and takes
// the majority's writes.
func TestCluster_Partition(t *testing.T) {
	c := newTestClusterWith(t, 3, ClusterOptions{Configure: relaxed})
	ctx := t.Context()
	applyLeader(t, c, &CreateBucket{Bucket: "bkt", IfNotExists: true})
	ensureSame(t, c)
	old := leaderIndex(t, c)

	c.Partition(old)
	minority := make(chan error, 1)
	go func() {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := c.Nodes[old].Apply(actx, &PutObject{Bucket: "bkt", Key: "minority", File: testFile("lost")})
		if err == nil {
			err = fmt.Errorf("applied on the minority side: %+v", r)
		}
		minority <- err
	}()
	// The majority elects another leader and goes on.
	var l *Node
	if err := c.WaitFor(ctx, func() bool {
		l = c.Leader(ctx)
		return l != c.Nodes[old]
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		applyLeader(t, c, &PutObject{Bucket: "bkt", Key: "majority" + strconv.Itoa(i), File: testFile("kept")})
	}
	err := <-minority
	if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("apply on the cut-off leader: %v", err)
	}
	t.Logf("cut-off leader answered: %v", err)
	if _, err := c.Nodes[old].Apply(ctx, &CreateBucket{Bucket: "late"}); !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("second apply on the cut-off node: %v", err)
	}

	c.Heal()
	ensureSame(t, c)
	onEvery(t, c, "bkt", "minority", false)
	for i := range 5 {
		onEvery(t, c, "bkt", "majority"+strconv.Itoa(i), true)
	}
	if _, err := c.Nodes[old].State().Bucket("late"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("the cut-off node's proposal survived: %v", err)
	}
}

// TestCluster_SnapshotInstall proves that a follower that fell behind the
// leader's compacted log catches up from a snapshot the leader sends, in
// either snapshot format.
func TestCluster_SnapshotInstall(t *testing.T) {
	for _, format := range []byte{snapPlain, snapZstd} {
		t.Run(fmt.Sprint("Format", format), func(t *testing.T) { testSnapshotInstall(t, format) })
	}
}

func testSnapshotInstall(t *testing.T, format byte) {
	c := newTestClusterWith(t, 3, ClusterOptions{Configure: func(cfg *Config) {
		relaxed(cfg)
		cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = 1<<20, 4, time.Hour
		cfg.logSegmentSize = 8 << 10 // so that compaction deletes whole segments
	}})
	li := leaderIndex(t, c)
	lagging := (li + 1) % 3
	if format == snapZstd {
		applyLeader(t, c, &EnableFeature{Name: FeatureZstdSnapshot})
	}
	applyLeader(t, c, &CreateBucket{Bucket: "bkt", IfNotExists: true})
	applyLeader(t, c, &PutObject{Bucket: "bkt", Key: "before", File: testFile("before")})
	ensureSame(t, c)
	c.Stop(lagging)
	for i := range 40 {
		applyLeader(t, c, &PutObject{Bucket: "bkt", Key: fmt.Sprint("k", i), File: testFile(fmt.Sprint("v", i%7))})
	}
	applyLeader(t, c, &DeleteObject{Bucket: "bkt", Key: "before"})
	// Every running node compacts, whichever of them leads by now.
	for i, n := range c.Nodes {
		if n != nil {
			if err := n.Snapshot(); err != nil {
				t.Fatalf("snapshot on node %d: %v", i, err)
			}
		}
	}
	applyLeader(t, c, &PutObject{Bucket: "bkt", Key: "after-snapshot", File: testFile("after")})
	n := c.Restart(lagging)
	ensureSame(t, c)
	onEvery(t, c, "bkt", "before", false)
	onEvery(t, c, "bkt", "after-snapshot", true)
	if got := n.raft.Stats()["last_snapshot_index"]; got == "0" {
		t.Fatal("the lagging follower caught up without a snapshot: the test proves nothing")
	}
	n.fsm.mu.RLock()
	cur := n.fsm.current
	n.fsm.mu.RUnlock()
	if cur == "state-1" {
		t.Fatal("the lagging follower's state was not restored from a snapshot")
	}
	if got := newestSnapshotFormat(t, n); got != format {
		t.Fatalf("the follower installed a snapshot of format %d, want %d", got, format)
	}
	// And it keeps its restored state across a restart of its own.
	c.Stop(lagging)
	c.Restart(lagging)
	ensureSame(t, c)
}

// newestSnapshot opens n's newest Raft snapshot.
func newestSnapshot(t *testing.T, n *Node) (*raft.SnapshotMeta, io.ReadCloser) {
	t.Helper()
	snaps, err := raft.NewFileSnapshotStore(n.cfg.Dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		t.Fatalf("snapshots %v, %v", list, err)
	}
	meta, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return meta, rc
}

// newestSnapshotFormat reads the format byte of n's newest Raft snapshot.
func newestSnapshotFormat(t *testing.T, n *Node) byte {
	t.Helper()
	_, rc := newestSnapshot(t, n)
	defer rc.Close()
	hdr := make([]byte, len(snapMagic)+1)
	if _, err := io.ReadFull(rc, hdr); err != nil {
		t.Fatal(err)
	}
	return hdr[len(snapMagic)]
}

// TestCluster_FiveNodes proves that five nodes keep taking writes with two
// of them down, the leader among them, and that the two catch up when
// they come back.
func TestCluster_FiveNodes(t *testing.T) {
	c := newTestClusterWith(t, 5, ClusterOptions{Configure: relaxed})
	li := leaderIndex(t, c)
	applyLeader(t, c, &CreateBucket{Bucket: "bkt", IfNotExists: true})
	down := []int{li, (li + 2) % 5}
	for _, i := range down {
		c.Stop(i)
	}
	for i := range 10 {
		applyLeader(t, c, &PutObject{Bucket: "bkt", Key: fmt.Sprint("k", i), File: testFile(fmt.Sprint(i))})
	}
	for _, i := range down {
		c.Restart(i)
	}
	applyLeader(t, c, &PutObject{Bucket: "bkt", Key: "last", File: testFile("last")})
	ensureSame(t, c)
	for _, n := range c.Nodes {
		if st, _ := n.State().Stats(); st.Objects != 11 {
			t.Fatalf("node %s: stats %+v", n.ID(), st)
		}
	}
}

// TestNode_RestoreBackup proves that a backup restored into a cluster
// whose log is shorter than the backup's applied index takes writes after
// it: they land past the backup's index instead of being skipped as
// already applied, on the leader and on the followers.
func TestNode_RestoreBackup(t *testing.T) {
	src := newTestNode(t)
	mustApply(t, src, &CreateBucket{Bucket: "bkt"})
	for i := range 30 {
		mustApply(t, src, &PutRef{Name: "r", Target: strconv.Itoa(i)})
	}
	var backup bytes.Buffer
	index, err := src.Backup(&backup)
	if err != nil || index < 30 {
		t.Fatalf("backup at %d: %v", index, err)
	}
	// Every follower installs the restored state at once, each opening a
	// fresh Badger database meanwhile: a lease long enough for that keeps
	// the leader from stepping down under the restore.
	c := newTestClusterWith(t, 3, ClusterOptions{Configure: func(cfg *Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 800*time.Millisecond
	}})
	l := c.Leader(t.Context())
	mustApply(t, l, &CreateBucket{Bucket: "gone"})
	bad := bytes.Clone(backup.Bytes())
	bad[len(bad)/2] ^= 1
	if err := l.RestoreBackup(t.Context(), bytes.NewReader(bad)); err == nil {
		t.Fatal("a corrupt backup was restored")
	}
	if _, err := l.State().Bucket("gone"); err != nil {
		t.Fatalf("a refused backup changed the state: %v", err)
	}
	if err := l.RestoreBackup(t.Context(), bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatal(err)
	}
	r := applyLeader(t, c, &PutObject{Bucket: "bkt", Key: "after", File: testFile("after")})
	if r.Object == nil || r.Index <= index {
		t.Fatalf("write after restore: %+v", r)
	}
	ensureSame(t, c)
	onEvery(t, c, "bkt", "after", true)
	for _, n := range c.Nodes {
		if _, err := n.State().Bucket("gone"); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("node %s kept state the backup replaced: %v", n.ID(), err)
		}
	}
}

// TestNode_RestartAfterBarrier proves that a node whose newest snapshot
// ends with entries the state never sees (a barrier) does not restore the
// snapshot again at start-up: its state already holds everything in it.
func TestNode_RestartAfterBarrier(t *testing.T) {
	c := newTestCluster(t, 1)
	n := c.Nodes[0]
	mustApply(t, n, &CreateBucket{Bucket: "bkt"})
	if err := n.Barrier(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	want := dumpState(t, n.State())
	c.Stop(0)
	n = c.Restart(0)
	n.fsm.mu.RLock()
	cur := n.fsm.current
	n.fsm.mu.RUnlock()
	if cur != "state-1" {
		t.Fatalf("restart restored a snapshot the state already held (now in %s)", cur)
	}
	if got := dumpState(t, n.State()); got != want {
		t.Fatalf("state changed across restart:\n%s", diffDump(want, got))
	}
	applyLeader(t, c, &PutObject{Bucket: "bkt", Key: "k", File: testFile("x")})
}
