package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Cluster is a Raft group of in-process nodes for tests: raft's in-memory
// transport, real Badger state in temporary folders. Nodes can be
// partitioned, stopped and restarted.
type Cluster struct {
	tb    testing.TB
	opt   ClusterOptions
	mu    sync.Mutex
	Nodes []*Node
	trans []*raft.InmemTransport
	dirs  []string
	cut   map[int]bool
}

// ClusterOptions adjust the nodes of a newTestClusterWith.
type ClusterOptions struct {
	// Configure, when set, changes each node's Config (TestConfig plus the
	// cluster's transport) before the node opens, at start and at every
	// Restart: to lower SnapshotThreshold and TrailingLogs, say.
	Configure func(*Config)
}

// newTestCluster starts n nodes that form one cluster and waits for a leader.
// The cluster is shut down when the test ends.
func newTestCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	return newTestClusterWith(tb, n, ClusterOptions{})
}

// newTestClusterWith is newTestCluster with options.
func newTestClusterWith(tb testing.TB, n int, opt ClusterOptions) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, opt: opt, Nodes: make([]*Node, n), trans: make([]*raft.InmemTransport, n), dirs: make([]string, n), cut: map[int]bool{}}
	var servers []Member
	for i := range n {
		c.dirs[i] = tb.TempDir()
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i)))
		c.trans[i] = tr
		servers = append(servers, Member{ID: fmt.Sprintf("node%d", i), Addr: string(addr), Voter: true})
	}
	c.connectAll()
	for i := range n {
		c.Nodes[i] = c.open(i, servers)
	}
	tb.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	c.Leader(ctx)
	return c
}

// newTestNode starts a single-node cluster.
func newTestNode(tb testing.TB) *Node { return newTestCluster(tb, 1).Nodes[0] }

// testConfig returns a Config with the short timeouts tests use.
func testConfig(tb testing.TB, id, dir string) Config {
	return Config{
		Dir: dir, ID: id,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func (c *Cluster) open(i int, bootstrap []Member) *Node {
	cfg := testConfig(c.tb, fmt.Sprintf("node%d", i), c.dirs[i])
	cfg.Transport = c.trans[i]
	cfg.Bootstrap = bootstrap
	if c.opt.Configure != nil {
		c.opt.Configure(&cfg)
	}
	node, err := Open(cfg)
	if err != nil {
		c.tb.Fatalf("open node %d: %v", i, err)
	}
	return node
}

func (c *Cluster) connectAll() {
	for i, a := range c.trans {
		for j, b := range c.trans {
			if i != j && a != nil && b != nil && !c.cut[i] && !c.cut[j] {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
}

// Leader waits for a leader and returns it.
func (c *Cluster) Leader(ctx context.Context) *Node {
	c.tb.Helper()
	var leader *Node
	err := c.WaitFor(ctx, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, n := range c.Nodes {
			if n != nil && !c.cut[i] && n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	})
	if err != nil {
		c.tb.Fatalf("no leader: %v", err)
	}
	return leader
}

// WaitFor polls cond until it holds or ctx ends.
func (c *Cluster) WaitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Partition cuts node i off from every other node.
func (c *Cluster) Partition(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[i] = true
	c.trans[i].DisconnectAll()
	for j, t := range c.trans {
		if j != i && t != nil {
			t.Disconnect(c.trans[i].LocalAddr())
		}
	}
}

// Heal reconnects every node.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = map[int]bool{}
	c.connectAll()
}

// Stop shuts node i down, keeping its folder.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	n := c.Nodes[i]
	c.Nodes[i] = nil
	c.mu.Unlock()
	if n != nil {
		if err := n.Close(); err != nil {
			c.tb.Errorf("close node %d: %v", i, err)
		}
	}
}

// Restart starts node i again on its folder.
func (c *Cluster) Restart(i int) *Node {
	n := c.open(i, nil)
	c.mu.Lock()
	c.Nodes[i] = n
	c.mu.Unlock()
	return n
}

// EnsureSame waits until every running node has applied the leader's last
// index and then checks that their states are byte-identical.
func (c *Cluster) EnsureSame(ctx context.Context) error {
	// Leadership may move meanwhile: ask whoever leads until one of them
	// proves it.
	var want uint64
	var err error
	if werr := c.WaitFor(ctx, func() bool {
		leader := c.Leader(ctx)
		if err = leader.Barrier(ctx); err == nil {
			want = leader.State().Applied()
		}
		return !errors.Is(err, ErrNotLeader)
	}); werr != nil {
		return fmt.Errorf("barrier: %w (%v)", werr, err)
	}
	if err != nil {
		return err
	}
	var first []byte
	firstNode := -1
	for i, n := range c.Nodes {
		if n == nil {
			continue
		}
		if err := n.WaitApplied(ctx, want); err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		var b bytes.Buffer
		if err := n.State().Dump(&b); err != nil {
			return err
		}
		if first == nil {
			first, firstNode = b.Bytes(), i
		} else if !bytes.Equal(first, b.Bytes()) {
			return fmt.Errorf("node %d state differs from node %d's at index %d", i, firstNode, want)
		}
	}
	return nil
}

// Close shuts every node down.
func (c *Cluster) Close() {
	for i := range c.Nodes {
		c.Stop(i)
	}
}
