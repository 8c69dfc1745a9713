package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/internal/proctest"
	"cairn/raftfsm"
)

// netsim cuts connections between nodes, the way a partition does: an
// isolated node can neither dial nor keep a connection to any other.
type netsim struct {
	mu       sync.Mutex
	isolated map[string]bool
	cuts     map[[2]string]bool // pairs of addresses that cannot reach each other
	conns    map[*simConn]bool
}

type simConn struct {
	net.Conn
	from, to string
}

func newNetsim() *netsim {
	return &netsim{isolated: map[string]bool{}, cuts: map[[2]string]bool{}, conns: map[*simConn]bool{}}
}

func (n *netsim) dialer(self string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		n.mu.Lock()
		cut := n.isolated[self] || n.isolated[addr] || n.cuts[[2]string{self, addr}]
		n.mu.Unlock()
		if cut {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		sc := &simConn{Conn: c, from: self, to: addr}
		n.mu.Lock()
		n.conns[sc] = true
		n.mu.Unlock()
		return sc, nil
	}
}

func (c *simConn) Close() error {
	return c.Conn.Close()
}

// isolate cuts addr off from every other node.
func (n *netsim) isolate(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[addr] = true
	for c := range n.conns {
		if c.from == addr || c.to == addr {
			c.Conn.Close()
			delete(n.conns, c)
		}
	}
}

// cut cuts a and b off from each other, both ways.
func (n *netsim) cut(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[[2]string{a, b}], n.cuts[[2]string{b, a}] = true, true
	for c := range n.conns {
		if c.from == a && c.to == b || c.from == b && c.to == a {
			c.Conn.Close()
			delete(n.conns, c)
		}
	}
}

func (n *netsim) heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated = map[string]bool{}
	n.cuts = map[[2]string]bool{}
}

// testCluster is n in-process nodes talking over real TCP on 127.0.0.1.
type testCluster struct {
	t     testing.TB
	net   *netsim
	cfgs  []Config
	ports []*proctest.Ports // each node's sockets, at the same addresses across restarts
	nodes []*Server
	stops []context.CancelFunc
	dones []chan error
}

func newTestCluster(t testing.TB, n int, mutate ...func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, net: newNetsim()}
	var peers []Peer
	var ports []*proctest.Ports
	for i := range n {
		p := proctest.Listen(t)
		ports = append(ports, p)
		peers = append(peers, Peer{ID: fmt.Sprintf("node%d", i), RaftAddr: p.ClusterAddr})
	}
	for i := range n {
		cfg := clusterConfig(t, peers[i].ID, ports[i], c.net)
		cfg.Bootstrap = peers
		for _, m := range mutate {
			m(&cfg)
		}
		c.add(cfg, ports[i])
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	for i := range n {
		waitReady(t, c.nodes[i].URL())
	}
	return c
}

// steadyLeader gives a test cluster election timings that keep one
// leader on a machine loaded far past its cores (CI runs the packages'
// tests side by side): for tests that call the leader by index across
// several steps, or run one long command on it.
func steadyLeader(cfg *Config) {
	cfg.HeartbeatTimeout, cfg.ElectionTimeout = 2*time.Second, 2*time.Second
}

// add makes room for a node that start starts.
func (c *testCluster) add(cfg Config, p *proctest.Ports) {
	c.cfgs, c.ports = append(c.cfgs, cfg), append(c.ports, p)
	c.nodes, c.stops, c.dones = append(c.nodes, nil), append(c.stops, nil), append(c.dones, nil)
}

func clusterConfig(t testing.TB, id string, p *proctest.Ports, ns *netsim) Config {
	raftAddr := p.ClusterAddr
	return Config{
		DataDir: t.TempDir(), HTTPAddr: p.HTTPAddr, RaftAddr: raftAddr, NodeID: id, Anonymous: "all",
		ClusterSecret:    "test-cluster-secret",
		S3Keys:           []S3Key{{AccessKey: "testkey", SecretKey: "testsecret"}},
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		GCInterval: -1, RepairInterval: 200 * time.Millisecond,
		Dial:   ns.dialer(raftAddr),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})).With("test_node", id),
	}
}

func (c *testCluster) start(i int) *Server {
	cfg := c.cfgs[i]
	cfg.HTTPListener, cfg.ClusterListener = c.ports[i].Take(c.t)
	srv, err := New(cfg)
	if err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c.nodes[i], c.stops[i], c.dones[i] = srv, cancel, done
	return srv
}

// stop shuts node i down (its folder stays).
func (c *testCluster) stop(i int) {
	if c.nodes[i] == nil {
		return
	}
	c.stops[i]()
	<-c.dones[i]
	c.nodes[i] = nil
}

func (c *testCluster) restart(i int) *Server {
	srv := c.start(i)
	waitReady(c.t, srv.URL())
	return srv
}

// leader waits for a running node that leads and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n != nil && n.Node().IsLeader() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return -1
}

// follower returns a running node other than the leader and skip.
func (c *testCluster) follower(skip ...int) int {
	l := c.leader()
	for i, n := range c.nodes {
		if n != nil && i != l && !contains(skip, i) {
			return i
		}
	}
	c.t.Fatal("no follower")
	return -1
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// ensureSame waits until every running node has applied what the leader
// has, then checks that their states are byte-identical and that each
// holds every chunk some object needs (or the cold tier holds it).
func (c *testCluster) ensureSame() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 60*time.Second)
	defer cancel()
	// The leader may change under a loaded machine between finding it
	// and its barrier: ask whoever leads then.
	l := c.nodes[c.leader()]
	for err := l.Node().Barrier(ctx); err != nil; err = l.Node().Barrier(ctx) {
		if !errors.Is(err, raftfsm.ErrNotLeader) {
			c.t.Fatalf("barrier: %v", err)
		}
		l = c.nodes[c.leader()]
	}
	want := l.Node().State().Applied()
	var first string
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		if err := n.Node().WaitApplied(ctx, want); err != nil {
			c.t.Fatalf("node %d: %v", i, err)
		}
		var b bytes.Buffer
		n.Node().State().Dump(&b)
		if first == "" {
			first = b.String()
		} else if b.String() != first {
			c.t.Fatalf("node %d state differs", i)
		}
	}
	refs, err := l.Node().State().ChunkRefs(chunk.Digest{}, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	var ds []chunk.Digest
	for _, r := range refs {
		ds = append(ds, r.Digest)
	}
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		for {
			missing, err := n.core.Lacks(ctx, ds)
			if err != nil {
				c.t.Fatal(err)
			}
			if len(missing) == 0 {
				break
			}
			if ctx.Err() != nil {
				c.t.Fatalf("node %d still lacks %d chunks", i, len(missing))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// put writes through node i's /v1 API and returns the status and result.
func put(t *testing.T, srv *Server, bucket, key string, b []byte) (int, client.PutResult) {
	var res client.PutResult
	req, _ := http.NewRequest(http.MethodPut, objURL(srv, bucket, key), bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, res
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := jsonUnmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, res
}

// getConsistent reads a key through node srv with a consistent read.
func getConsistent(t *testing.T, srv *Server, bucket, key string) (int, []byte) {
	resp, err := http.Get(objURL(srv, bucket, key) + "?consistent=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
