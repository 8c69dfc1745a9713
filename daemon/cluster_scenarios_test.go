package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/cas"
	"cairn/cas/castest"
	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/cluster"
	"cairn/daemon/core"
	"cairn/daemon/internal/proctest"
)

func TestCluster_WriteFollowerReadOther(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	f1 := c.follower()
	f2 := c.follower(f1)
	mkBucket(t, c.nodes[f1], "data")
	booster := content("booster", 3<<20)
	if st, res := put(t, c.nodes[f1], "data", "runs/model.xgb", booster); st != 200 || res.Digest != chunk.Sum(booster) {
		t.Fatalf("put via follower: %d", st)
	}
	// The write was acknowledged only after a majority held its chunks.
	holders := 0
	for _, n := range c.nodes {
		if ok, _ := n.Store().Has(t.Context(), chunk.Sum(booster[:100])); ok || hasAll(t, n, booster) {
			holders++
		}
	}
	if holders < 2 {
		t.Fatalf("%d nodes hold the chunks right after the ack, want a majority", holders)
	}
	st, b := getConsistent(t, c.nodes[f2], "data", "runs/model.xgb")
	if st != 200 || !bytes.Equal(b, booster) {
		t.Fatalf("consistent read on the other follower: %d, %d bytes", st, len(b))
	}
	c.ensureSame()
}

// TestCluster_PushesWhileStoring writes a file of several push batches
// through a follower: the node sends chunks to its peers while it is still
// storing the file; once the write is acknowledged a majority holds every
// chunk, and soon all three do: whatever was not pushed early, replicate
// pushed, none is lost between the two.
func TestCluster_PushesWhileStoring(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	f := c.nodes[c.follower()]
	mkBucket(t, f, "data")
	body := content("early", 3*cluster.BatchBytes+12345) // random: stored as is, so several batches
	if st, res := put(t, f, "data", "big", body); st != 200 || res.Digest != chunk.Sum(body) {
		t.Fatalf("put: %d", st)
	}
	if got := f.metrics.EarlyPushed.Load(); got < cluster.BatchBytes {
		t.Fatalf("%d bytes pushed while storing, want at least one batch of %d", got, cluster.BatchBytes)
	}
	holders := func() int {
		n := 0
		for _, srv := range c.nodes {
			if hasAll(t, srv, body) {
				n++
			}
		}
		return n
	}
	if h := holders(); h < 2 {
		t.Fatalf("%d nodes hold every chunk right after the ack, want a majority", h)
	}
	waitFor(t, func() bool { return holders() == 3 })
	c.ensureSame()
}

// hasAll reports whether n holds every chunk of data.
// putOnAll writes bucket/key through node l and waits until every node
// holds all of its chunks.
func (c *testCluster) putOnAll(l *Server, bucket, key string, body []byte) {
	t := c.t.(*testing.T)
	t.Helper()
	if st, _ := put(t, l, bucket, key, body); st != 200 {
		t.Fatalf("put %s/%s: %d", bucket, key, st)
	}
	waitFor(t, func() bool {
		for _, n := range c.nodes {
			if !hasAll(t, n, body) {
				return false
			}
		}
		return true
	})
}

func hasAll(t *testing.T, n *Server, data []byte) bool {
	c, _ := chunk.NewChunker(bytes.NewReader(data), chunk.Params{})
	for {
		b, err := c.Next()
		if err != nil {
			return true
		}
		if ok, _ := n.Store().Has(t.Context(), chunk.Sum(b)); !ok {
			return false
		}
	}
}

// writer streams writes through the given nodes, recording what was
// acknowledged and what was refused as not written. Every answer must be
// one of those, or an unknown outcome: anything else (a 500, a 4xx) fails
// the test.
type writer struct {
	mu       sync.Mutex
	acked    map[string][]byte
	refused  []string // keys answered "not written" (503 but OutcomeUnknown)
	unknown  int
	tried    int
	failures []string
}

func (w *writer) run(t *testing.T, c *testCluster, stop <-chan struct{}, nodes func() []*Server, prefix string) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ns := nodes()
		srv := ns[i%len(ns)]
		key := fmt.Sprintf("%s/%05d", prefix, i)
		body := content(key, 1000+i*997%200000)
		st, code := putCode(srv, "data", key, body)
		w.mu.Lock()
		w.tried++
		switch {
		case st == 200:
			w.acked[key] = body
		case st == 0: // the node was stopped: the connection failed
			w.unknown++
		case st == 503 && code == "OutcomeUnknown":
			w.unknown++
		case st == 503:
			w.refused = append(w.refused, key)
		default:
			w.failures = append(w.failures, fmt.Sprintf("%s: %d %s", key, st, code))
		}
		w.mu.Unlock()
	}
}

// check fails the test if a write got an answer other than success, "not
// written" or "outcome unknown", or if a write answered "not written"
// exists on node n.
func (w *writer) check(t *testing.T, n *Server) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.failures) > 0 {
		t.Fatalf("%d writes failed with answers a client cannot act on, the first: %s", len(w.failures), w.failures[0])
	}
	for _, key := range w.refused {
		if st, _ := getConsistent(t, n, "data", key); st != 404 {
			t.Fatalf("%s was answered 503 (not written) but reads %d", key, st)
		}
	}
	t.Logf("%d writes: %d acknowledged, %d refused, %d outcome unknown", w.tried, len(w.acked), len(w.refused), w.unknown)
}

// putCode writes through srv's /v1 API and returns the status and the
// error code of a refusal; 0 when the request failed.
func putCode(srv *Server, bucket, key string, b []byte) (int, string) {
	req, _ := http.NewRequest(http.MethodPut, objURL(srv, bucket, key), bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var e client.Error
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

func (c *testCluster) running() []*Server {
	var out []*Server
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

func TestCluster_LeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	mkBucket(t, c.nodes[c.leader()], "data")
	w := &writer{acked: map[string][]byte{}}
	stop := make(chan struct{})
	var nodesMu sync.Mutex
	live := c.running()
	nodes := func() []*Server { nodesMu.Lock(); defer nodesMu.Unlock(); return live }
	done := make(chan struct{})
	go func() { w.run(t, c, stop, nodes, "stream"); close(done) }()
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.acked) >= 10 })
	old := c.leader()
	nodesMu.Lock()
	live = nil
	for i, n := range c.nodes {
		if i != old {
			live = append(live, n)
		}
	}
	nodesMu.Unlock()
	c.stop(old)
	// Writes resume on the new leader.
	before := func() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.acked) }()
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.acked) >= before+10 })
	close(stop)
	<-done
	for _, n := range c.running() {
		for key, body := range w.acked {
			if st, b := getConsistent(t, n, "data", key); st != 200 || !bytes.Equal(b, body) {
				t.Fatalf("acknowledged %s on %s: %d", key, n.cfg.NodeID, st)
			}
		}
	}
	w.check(t, c.nodes[c.leader()])
	c.restart(old)
	c.ensureSame()
}

func TestCluster_RestartCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotThreshold, cfg.TrailingLogs = 16, 8 })
	l := c.leader()
	mkBucket(t, c.nodes[l], "data")
	lag := c.follower()
	c.stop(lag)
	for i := range 40 {
		key := fmt.Sprintf("k%02d", i)
		if st, _ := put(t, c.nodes[c.leader()], "data", key, content(key, 50000+i)); st != 200 {
			t.Fatalf("put %s: %d", key, st)
		}
	}
	// Force a snapshot so the lagging node must install it.
	if err := c.nodes[c.leader()].Node().Snapshot(); err != nil {
		t.Fatal(err)
	}
	c.restart(lag)
	c.ensureSame() // references through the snapshot, chunks through repair
	for i := range 40 {
		key := fmt.Sprintf("k%02d", i)
		resp, err := http.Get(objURL(c.nodes[lag], "data", key))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s on the restarted node: %d", key, resp.StatusCode)
		}
	}
}

func TestCluster_Partition(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	old := c.leader()
	mkBucket(t, c.nodes[old], "data")
	put(t, c.nodes[old], "data", "before", []byte("before the partition"))
	c.net.isolate(c.cfgs[old].RaftAddr)
	// The minority side commits nothing.
	st, _ := put(t, c.nodes[old], "data", "minority", []byte("must not commit"))
	if st == 200 {
		t.Fatal("the isolated old leader acknowledged a write")
	}
	// The majority elects a leader and goes on.
	var newLeader int
	waitFor(t, func() bool {
		for i, n := range c.nodes {
			if i != old && n.Node().IsLeader() {
				newLeader = i
				return true
			}
		}
		return false
	})
	for i := range 5 {
		key := fmt.Sprintf("majority/%d", i)
		if st, _ := put(t, c.nodes[newLeader], "data", key, content(key, 200000)); st != 200 {
			t.Fatalf("majority write %d: %d", i, st)
		}
	}
	c.net.heal()
	c.ensureSame()
	if st, _ := getConsistent(t, c.nodes[old], "data", "minority"); st != 404 {
		t.Fatalf("the minority's write is visible after healing: %d", st)
	}
	if st, b := getConsistent(t, c.nodes[old], "data", "majority/4"); st != 200 || !bytes.Equal(b, content("majority/4", 200000)) {
		t.Fatalf("the majority's write on the healed node: %d", st)
	}
}

func TestCluster_Membership(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	mkBucket(t, c.nodes[c.leader()], "data")
	w := &writer{acked: map[string][]byte{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	first := []*Server{c.nodes[0], c.nodes[1], c.nodes[2]} // c.nodes grows below
	go func() {
		w.run(t, c, stop, func() []*Server { return first }, "load")
		close(done)
	}()
	// A fourth node joins under load through any member.
	ports := proctest.Listen(t)
	cfg := clusterConfig(t, "node3", ports, c.net)
	cfg.Join = c.nodes[c.follower()].RaftAddr()
	c.add(cfg, ports)
	c.start(3)
	waitFor(t, func() bool {
		members, err := c.nodes[c.leader()].Node().Members()
		if err != nil {
			return false
		}
		for _, m := range members {
			if m.ID == "node3" && m.Voter {
				return true
			}
		}
		return false
	})
	close(stop)
	<-done
	c.ensureSame()
	w.check(t, c.nodes[3])
	// Remove a follower; the other three keep going.
	gone := c.follower(3)
	body := fmt.Sprintf(`{"id":%q}`, c.cfgs[gone].NodeID)
	req, _ := http.NewRequest(http.MethodPost, c.nodes[3].URL()+"/v1/cluster/remove", bytes.NewReader([]byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("remove: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	c.stop(gone)
	if st, _ := put(t, c.nodes[c.leader()], "data", "after-remove", []byte("ok")); st != 200 {
		t.Fatalf("write after removal: %d", st)
	}
	c.ensureSame()
	for key, b := range w.acked {
		if st, got := getConsistent(t, c.nodes[3], "data", key); st != 200 || !bytes.Equal(got, b) {
			t.Fatalf("%s on the new node: %d", key, st)
		}
	}
	var status client.ClusterStatus
	call(t, http.MethodGet, c.nodes[3].URL()+"/v1/cluster/status", nil, &status)
	if len(status.Nodes) != 3 || status.Leader == "" {
		t.Fatalf("status %+v", status)
	}
}

func TestCluster_FiveNodesLoseTwo(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 5)
	mkBucket(t, c.nodes[c.leader()], "data")
	a := c.follower()
	b := c.follower(a)
	c.stop(a)
	c.stop(b)
	for i := range 5 {
		key := fmt.Sprintf("k%d", i)
		if st, _ := put(t, c.nodes[c.follower()], "data", key, content(key, 100000)); st != 200 {
			t.Fatalf("write with two of five down: %d", st)
		}
	}
	c.restart(a)
	c.restart(b)
	c.ensureSame()
}

// TestCluster_FetchInBatches empties one node of a file's chunks and has
// it fetch them back in batches (the file is larger than one fetch answer,
// so answers come truncated and are asked again). Each of the two peers
// hands out one chunk that does not match its digest: the node keeps the
// rest of that batch, gets the bad one from the other peer, and ends with
// every chunk, verified.
func TestCluster_FetchInBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	// Background repair would race this test for the chunks it deletes.
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.RepairInterval = time.Hour })
	l := c.nodes[c.leader()]
	mkBucket(t, l, "data")
	body := content("fetch", 3*cluster.BatchBytes+777)
	c.putOnAll(l, "data", "big", body)
	var recipe cas.Recipe
	ck, _ := chunk.NewChunker(bytes.NewReader(body), chunk.Params{})
	for {
		b, err := ck.Next()
		if err != nil {
			break
		}
		recipe = append(recipe, cas.Ref{Digest: chunk.Sum(b), Size: uint32(len(b))})
	}
	ds := recipe.Distinct()
	a := c.follower()
	var others []int
	for i := range c.nodes {
		if i != a {
			others = append(others, i)
		}
	}
	// Each of the other two nodes, one at a time (the cluster keeps its
	// quorum), gets one chunk whose stored bytes do not match its digest.
	for j, bad := range []int{1, len(ds) - 2} {
		i := others[j]
		c.stop(i)
		castest.Replace(t, filepath.Join(c.cfgs[i].DataDir, "chunks"), ds[bad], append([]byte{0}, content(fmt.Sprint("wrong", j), int(recipe[bad].Size))...))
		c.restart(i)
	}

	n := c.nodes[a]
	if err := n.Store().Delete(t.Context(), ds...); err != nil {
		t.Fatal(err)
	}
	before := n.metrics.Repaired.Load()
	if err := n.core.FetchChunks(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	if missing, _ := n.Store().Missing(t.Context(), ds); len(missing) != 0 {
		t.Fatalf("%d chunks still missing", len(missing))
	}
	if got := n.metrics.Repaired.Load() - before; got != int64(len(ds)) {
		t.Fatalf("%d chunks counted as repaired, want %d", got, len(ds))
	}
	rd := n.Store().Open(t.Context(), recipe)
	got, err := io.ReadAll(rd)
	rd.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	// A chunk nobody holds is reported as such.
	if err := n.core.FetchChunks(t.Context(), []chunk.Digest{chunk.Sum([]byte("nowhere"))}); !errors.Is(err, core.ErrChunkNotFound) {
		t.Fatalf("fetch of a chunk nobody has: %v", err)
	}
}

// TestCluster_RelogAsksNoPeer: a file the state already holds (an env
// file logged again by the next run) is written without asking the peers
// which of its chunks they lack, through S3-style PUTs and through the Go
// client's commit alike; a new file still asks them.
func TestCluster_RelogAsksNoPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	f1 := c.follower()
	mkBucket(t, c.nodes[f1], "mlflow")
	// asked counts the missing-chunks questions the two other nodes took.
	asked := func() int {
		t.Helper()
		n := 0
		for i, srv := range c.nodes {
			if i == f1 {
				continue
			}
			for _, line := range strings.Split(metricsText(t, srv), "\n") {
				if v, ok := strings.CutPrefix(line, `cairn_http_request_duration_seconds_count{operation="missing",surface="peer"} `); ok {
					k, _ := strconv.Atoi(v)
					n += k
				}
			}
		}
		return n
	}
	env := []byte("name: mlflow-env\nchannels:\n- conda-forge\ndependencies:\n- python=3.11\n- pip:\n  - mlflow==2.17.0\n  - xgboost==2.1.1\n")
	if st, _ := put(t, c.nodes[f1], "mlflow", "1/run1/artifacts/model/conda.yaml", env); st != 200 {
		t.Fatalf("first put: %d", st)
	}
	first := asked()
	if first == 0 {
		t.Fatal("the first write of the file asked no peer: the count proves nothing")
	}
	if st, _ := put(t, c.nodes[f1], "mlflow", "1/run2/artifacts/model/conda.yaml", env); st != 200 {
		t.Fatalf("second put: %d", st)
	}
	cl, err := client.New(client.Config{Endpoints: []string{c.nodes[f1].URL()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(t.Context(), "mlflow", "1/run3/artifacts/model/conda.yaml", bytes.NewReader(env), int64(len(env)), nil); err != nil {
		t.Fatal(err)
	}
	if n := asked(); n != first {
		t.Fatalf("logging a file the state holds asked the peers %d more times", n-first)
	}
	other := append(bytes.Clone(env), "  - numpy==2.1.0\n"...)
	if st, _ := put(t, c.nodes[f1], "mlflow", "1/run4/artifacts/model/conda.yaml", other); st != 200 {
		t.Fatalf("put of a new file: %d", st)
	}
	if n := asked(); n <= first {
		t.Fatal("a new file was written without asking the peers")
	}
	for _, k := range []string{"run2", "run3"} {
		st, b := getConsistent(t, c.nodes[c.follower(f1)], "mlflow", "1/"+k+"/artifacts/model/conda.yaml")
		if st != 200 || !bytes.Equal(b, env) {
			t.Fatalf("%s read on another node: %d %q", k, st, b)
		}
	}
	c.ensureSame()
}
