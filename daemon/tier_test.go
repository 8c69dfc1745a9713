package daemon

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"cairn/client"
	"cairn/client/s3client"
	"cairn/daemon/tier"
	"cairn/daemon/upkeep"
)

// tierTarget starts a second cairn node to serve as the cold tier's
// S3 bucket, and returns its configuration and a client of it.
func tierTarget(t *testing.T) (tier.Config, *tier.Bucket) {
	t.Helper()
	target := newTestServer(t)
	k := s3Creds(t, target)
	cfg := tier.Config{Endpoint: target.URL(), Bucket: "cold", Prefix: "cluster-a", AccessKey: k.AccessKey, SecretKey: k.SecretKey}
	c, err := s3client.New(s3client.Config{Endpoint: cfg.Endpoint, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateBucket(t.Context(), cfg.Bucket); err != nil {
		t.Fatal(err)
	}
	b, err := tier.Open(cfg, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, b
}

// TestTier_MovesColdChunksAndReadsThemBack: chunks unread for tier_after
// move to the bucket and leave every node's disk; reads bring them back,
// verified, byte-identical; a tampered copy is refused; content written
// again dedups against the tier (no second copy); and once nothing
// references them, the copies are deleted after the grace period.
func TestTier_MovesColdChunksAndReadsThemBack(t *testing.T) {
	tcfg, bucket := tierTarget(t)
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	c := newTestCluster(t, 3, steadyLeader, func(cfg *Config) {
		cfg.Now, cfg.GCGrace = clock.Now, time.Minute
		cfg.Tier, cfg.TierAfter, cfg.TierInterval = tcfg, time.Hour, -1
	})
	l := c.leader()
	leader := c.nodes[l]
	ctx := t.Context()
	mkBucket(t, leader, "models")
	cold, hot := content("cold", 3<<20), content("hot", 2<<20)
	putBytes(t, leader, "models", "cold.xgb", cold)
	putBytes(t, leader, "models", "hot.xgb", hot)
	c.ensureSame()
	_, file, err := leader.Node().State().Object("models", "cold.xgb")
	if err != nil {
		t.Fatal(err)
	}
	coldDs := file.Recipe.Distinct()

	pass := func(i int) upkeep.TierResult {
		t.Helper()
		res, err := c.nodes[i].upkeep.Tier(ctx)
		if err != nil {
			t.Fatalf("tier pass on node %d: %v", i, err)
		}
		return res
	}
	// The first pass sees every chunk for the first time: nothing is cold.
	for i := range c.nodes {
		if res := pass(i); res.Cold != 0 || res.Copied != 0 || res.Evicted != 0 {
			t.Fatalf("node %d's first pass: %+v; want nothing cold", i, res)
		}
	}
	clock.Advance(2 * time.Hour)
	// The hot object is read on every node; the cold one nowhere.
	for i, srv := range c.nodes {
		if st, b := getConsistent(t, srv, "models", "hot.xgb"); st != 200 || !bytes.Equal(b, hot) {
			t.Fatalf("node %d: read of the hot object: %d", i, st)
		}
	}
	res := pass(l)
	if res.Copied != int64(len(coldDs)) || res.Evicted != int64(len(coldDs)) {
		t.Fatalf("leader's pass: %+v; want the %d chunks of the cold object copied and dropped", res, len(coldDs))
	}
	if n, _, err := bucket.Count(ctx); err != nil || n != int64(len(coldDs)) {
		t.Fatalf("the bucket holds %d chunks (%v), want %d", n, err, len(coldDs))
	}
	for i := range c.nodes {
		if i == l {
			continue
		}
		if res := pass(i); res.Copied != 0 || res.Evicted != int64(len(coldDs)) {
			t.Fatalf("node %d's pass: %+v; want %d dropped, none copied", i, res, len(coldDs))
		}
	}
	for i, srv := range c.nodes {
		if lacks, _ := srv.Store().Lacks(ctx, coldDs); len(lacks) != len(coldDs) {
			t.Fatalf("node %d still holds %d of the cold chunks", i, len(coldDs)-len(lacks))
		}
		// Repair does not fetch them back, and writers need not send them.
		if lacks, err := srv.core.Lacks(ctx, coldDs); err != nil || len(lacks) != 0 {
			t.Fatalf("node %d: %d tiered chunks count as missing to writers (%v)", i, len(lacks), err)
		}
	}
	// A copy changed in the bucket is refused: the read fails, and
	// nothing that does not match its digest is kept.
	f := c.follower()
	good, err := bucket.Get(ctx, coldDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.Put(ctx, coldDs[0], append([]byte{0}, bytes.Repeat([]byte("x"), 100)...)); err != nil {
		t.Fatal(err)
	}
	if st, _ := getConsistent(t, c.nodes[f], "models", "cold.xgb"); st == 200 {
		t.Fatalf("node %d served the cold object from a tampered copy", f)
	}
	if lacks, _ := c.nodes[f].Store().Lacks(ctx, coldDs[:1]); len(lacks) != 1 {
		t.Fatalf("node %d kept a chunk that does not match its digest", f)
	}
	// With the copy whole again, a read fetches the chunks back, verified.
	if err := bucket.Put(ctx, coldDs[0], good); err != nil {
		t.Fatal(err)
	}
	if st, b := getConsistent(t, c.nodes[f], "models", "cold.xgb"); st != 200 || !bytes.Equal(b, cold) {
		t.Fatalf("read of the tiered object on node %d: %d, %d bytes", f, st, len(b))
	}
	if got := c.nodes[f].metrics.TierFetched.Load(); got != int64(len(coldDs)) {
		t.Fatalf("node %d fetched %d chunks from the tier, want %d", f, got, len(coldDs))
	}
	other := c.follower(f)

	// The same content written again dedups across the tier: no second
	// copy, nothing uploaded to the bucket.
	putBytes(t, leader, "models", "again.xgb", cold)
	c.ensureSame()
	pass(l) // the chunks stored again are seen for the first time
	clock.Advance(2 * time.Hour)
	if st, _ := getConsistent(t, leader, "models", "hot.xgb"); st != 200 {
		t.Fatalf("read of the hot object: %d", st)
	}
	if res := pass(l); res.Copied != 0 || res.Evicted != int64(len(coldDs)) {
		t.Fatalf("pass after writing the content again: %+v; want nothing copied twice, %d dropped again", res, len(coldDs))
	}
	if n, _, _ := bucket.Count(ctx); n != int64(len(coldDs)) {
		t.Fatalf("after writing the content again the bucket holds %d chunks, want %d", n, len(coldDs))
	}

	// Once no file references them, the copies go: doomed, then after
	// the grace period forgotten and deleted.
	for _, key := range []string{"cold.xgb", "again.xgb"} {
		if st := call(t, http.MethodDelete, objURL(leader, "models", key), nil, nil); st != 200 {
			t.Fatalf("delete %s: %d", key, st)
		}
	}
	c.ensureSame()
	res = pass(l)
	if res.Doomed != int64(len(coldDs)) || res.Deleted != 0 {
		t.Fatalf("pass after the deletes: %+v; want %d doomed, none deleted yet", res, len(coldDs))
	}
	clock.Advance(2 * time.Minute)
	res = pass(l)
	if res.Forgotten != int64(len(coldDs)) || res.Deleted != int64(len(coldDs)) {
		t.Fatalf("pass after the grace period: %+v; want %d forgotten and deleted", res, len(coldDs))
	}
	if n, _, err := bucket.Count(ctx); err != nil || n != 0 {
		t.Fatalf("the bucket still holds %d chunks (%v)", n, err)
	}
	// The admin CLI runs the same pass: the hot object, unread for two
	// hours now, moves.
	clock.Advance(2 * time.Hour)
	cr := decodeFirst[client.TierResult](t, mustCLI(t, cliEnv(leader.URL()), "admin", "tier", "--json"))
	if cr.Copied == 0 || cr.Copied != cr.Evicted {
		t.Fatalf("cairn admin tier: %+v; want the hot object's chunks copied and dropped", cr)
	}
	c.ensureSame()
	if st, b := getConsistent(t, c.nodes[other], "models", "hot.xgb"); st != 200 || !bytes.Equal(b, hot) {
		t.Fatalf("the hot object after the tier's GC: %d", st)
	}
}
