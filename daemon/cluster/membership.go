package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"cairn/client"
	"cairn/daemon/internal/metrics"
	"cairn/raftfsm"
)

// Membership changes and reports the cluster's members. It is safe for
// concurrent use.
type Membership struct {
	id      string // this node's
	addr    string // this node's cluster address
	node    *raftfsm.Node
	peers   *Client
	metrics *metrics.Metrics
	log     *slog.Logger
	// Features is what this node tells its peers it knows (default
	// raftfsm.Features); tests play a node of an older release with none.
	Features []string
}

// NewMembership returns the membership of the cluster node belongs to;
// id and addr are this node's.
func NewMembership(id, addr string, node *raftfsm.Node, peers *Client, m *metrics.Metrics, log *slog.Logger) *Membership {
	return &Membership{id: id, addr: addr, node: node, peers: peers, metrics: m, log: log, Features: raftfsm.Features}
}

// Self returns this node's status.
func (m *Membership) Self() client.NodeStatus {
	st := m.node.Status()
	applied := m.node.State().Applied()
	return client.NodeStatus{ID: m.id, RaftAddr: m.addr, Role: st.Role, Term: st.Term, Applied: applied,
		Lag: m.node.Behind(), MissingBytes: m.metrics.MissingBytes.Load(), MissingCount: m.metrics.MissingChunks.Load(),
		Features: m.Features}
}

// Status asks every member for its status.
func (m *Membership) Status(ctx context.Context) (client.ClusterStatus, error) {
	members, err := m.node.Members()
	if err != nil {
		return client.ClusterStatus{}, err
	}
	leaderID, _ := m.node.Leader()
	out := client.ClusterStatus{Leader: leaderID}
	for _, f := range raftfsm.Features {
		if m.node.State().Feature(f) {
			out.Features = append(out.Features, f)
		}
	}
	var leaderApplied uint64
	leaderSeen := false
	for _, srv := range members {
		var n client.NodeStatus
		if srv.ID == m.id {
			n = m.Self()
		} else {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			n, err = m.peers.Status(cctx, srv.Addr)
			cancel()
			if err != nil {
				n = client.NodeStatus{ID: srv.ID, Role: "unreachable", Error: err.Error()}
			}
		}
		n.RaftAddr, n.Suffrage = srv.Addr, suffrage(srv.Voter)
		if n.ID == leaderID && n.Error == "" {
			leaderApplied, leaderSeen = n.Applied, true
		}
		out.Nodes = append(out.Nodes, n)
	}
	// Each node's lag is what it has yet to apply of what the leader
	// applied: both are indexes of entries that change the state, so an
	// idle cluster shows 0. Without the leader's answer, a node's own
	// count of what it knows is committed stands.
	if leaderSeen {
		for i := range out.Nodes {
			if out.Nodes[i].Error == "" {
				out.Nodes[i].Lag = max(leaderApplied, out.Nodes[i].Applied) - out.Nodes[i].Applied
			}
		}
	}
	return out, nil
}

func suffrage(voter bool) string {
	if voter {
		return "Voter"
	}
	return "Nonvoter"
}

// IsMember reports whether this node is in the cluster's configuration.
func (m *Membership) IsMember() bool {
	members, err := m.node.Members()
	if err != nil {
		return false
	}
	for _, srv := range members {
		if srv.ID == m.id {
			return true
		}
	}
	return false
}

// Change adds ("join") or removes ("remove") a member on the leader,
// forwarding the request there from a follower.
func (m *Membership) Change(ctx context.Context, op string, req client.JoinRequest) error {
	if !m.node.IsLeader() {
		_, addr := m.node.Leader()
		if addr == "" {
			return raftfsm.ErrNoLeader
		}
		return m.peers.ChangeMembership(ctx, addr, op, req)
	}
	if op == "remove" {
		if err := m.node.RemoveServer(ctx, req.ID); err != nil {
			return fmt.Errorf("remove %s: %w", req.ID, err)
		}
		m.log.Info("membership changed", "op", op, "id", req.ID)
		return nil
	}
	// A new node joins as a non-voter and becomes a voter only once it
	// has caught up with the log, so that it never slows or blocks
	// commits while it copies the state.
	if err := m.node.AddNonvoter(ctx, req.ID, req.RaftAddr); err != nil {
		return fmt.Errorf("add %s: %w", req.ID, err)
	}
	if req.Voter {
		if err := m.waitCaughtUp(ctx, req.RaftAddr); err != nil {
			return err
		}
		if err := m.node.AddVoter(ctx, req.ID, req.RaftAddr); err != nil {
			return fmt.Errorf("promote %s: %w", req.ID, err)
		}
	}
	m.log.Info("membership changed", "op", op, "id", req.ID, "addr", req.RaftAddr, "voter", req.Voter)
	return nil
}

// catchUpTimeout bounds how long a joining node may take to copy the log.
const catchUpTimeout = 10 * time.Minute

// waitCaughtUp waits until the node at addr has applied everything this
// leader had committed when the wait began.
func (m *Membership) waitCaughtUp(ctx context.Context, addr string) error {
	target := m.node.State().Applied()
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	for {
		if n, err := m.peers.Status(ctx, addr); err == nil && n.Applied >= target {
			return nil
		}
		if err := Sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("wait for %s to catch up to %d: %w", addr, target, err)
		}
	}
}

// Join asks a member, at its cluster address via, to add this node as a
// voter, over the authenticated cluster port, retrying until it succeeds
// or ctx ends.
func (m *Membership) Join(ctx context.Context, via string) {
	req := client.JoinRequest{ID: m.id, RaftAddr: m.addr, Voter: true}
	for {
		err := m.peers.ChangeMembership(ctx, via, "join", req)
		if err == nil {
			m.log.Info("joined cluster", "via", via)
			return
		}
		m.log.Warn("join failed; retrying", "via", via, "err", err)
		if Sleep(ctx, time.Second) != nil {
			return
		}
	}
}

// Sleep waits for d or until ctx ends, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
