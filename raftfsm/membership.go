package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Member is one server of the cluster's configuration.
type Member struct {
	ID    string
	Addr  string // the Raft address other nodes dial
	Voter bool
}

func (m Member) server() raft.Server {
	s := raft.Server{ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Addr), Suffrage: raft.Nonvoter}
	if m.Voter {
		s.Suffrage = raft.Voter
	}
	return s
}

// Status is this node's view of Raft, as status pages and metrics show it.
type Status struct {
	Role         string // Leader, Follower, Candidate or Shutdown
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // the last entry Raft handed to the state machine
	LastLogIndex uint64
}

// StreamLayer is the network Raft runs over when a node does not open its
// own TCP listener: the accepted connections of the cluster port that
// carry Raft, and a dialer of the same port on other nodes. Whoever
// provides it authenticates the connections.
type StreamLayer interface {
	net.Listener
	Dial(addr string, timeout time.Duration) (net.Conn, error)
}

// streamLayer adapts a StreamLayer to raft's.
type streamLayer struct{ StreamLayer }

func (s streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.StreamLayer.Dial(string(addr), timeout)
}

// Members returns the servers of the current configuration, voters and
// non-voters, in the configuration's order.
func (n *Node) Members() ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// AddNonvoter adds a server that receives the log but does not vote, or
// changes a member's address. Only the leader can; others get ErrNotLeader.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	return n.membership(ctx, func(timeout time.Duration) raft.IndexFuture {
		return n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	})
}

// AddVoter adds a voter, or promotes a non-voter.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.membership(ctx, func(timeout time.Duration) raft.IndexFuture {
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	})
}

// RemoveServer removes a member from the configuration.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.membership(ctx, func(timeout time.Duration) raft.IndexFuture {
		return n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	})
}

func (n *Node) membership(ctx context.Context, change func(time.Duration) raft.IndexFuture) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	err := change(n.timeout(ctx)).Error()
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return ErrNotLeader
	}
	return err
}

// Status returns this node's Raft role and indexes.
func (n *Node) Status() Status {
	st := n.raft.Stats()
	num := func(k string) uint64 { v, _ := strconv.ParseUint(st[k], 10, 64); return v }
	return Status{
		Role: n.raft.State().String(), Term: num("term"), CommitIndex: num("commit_index"),
		AppliedIndex: num("applied_index"), LastLogIndex: num("last_log_index"),
	}
}

// maxLagScan bounds how many log entries Behind reads to tell the entries
// that change the state from those that do not; past it, a node is far
// behind and the count is the plain difference of the indexes.
const maxLagScan = 4096

// Behind returns how many entries this node knows are committed and has
// not applied to its state yet: 0 once it has caught up. Raft's commit
// index also counts entries the state never sees (the no-op a new leader
// appends, barriers), so the two indexes are not compared directly: the
// entries between them are read, and only commands and configuration
// changes count.
func (n *Node) Behind() uint64 {
	commit, applied := n.raft.CommitIndex(), n.state.Applied()
	if commit <= applied {
		return 0
	}
	if commit-applied > maxLagScan {
		return commit - applied
	}
	var behind uint64
	var l raft.Log
	for i := applied + 1; i <= commit; i++ {
		// A committed entry is in the log unless a snapshot that this
		// node restored covers it: then the state holds it already.
		if n.wal.GetLog(i, &l) == nil && (l.Type == raft.LogCommand || l.Type == raft.LogConfiguration) {
			behind++
		}
	}
	return behind
}

// Snapshot makes Raft take a snapshot now and compact its log.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// timeout turns ctx's deadline into a Raft timeout, ApplyTimeout when it
// has none.
func (n *Node) timeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return n.cfg.ApplyTimeout
}

// TransferLeadership makes this node, the leader, hand its leadership to
// the voter to and step down, as an operator does before restarting it.
func (n *Node) TransferLeadership(ctx context.Context, to Member) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	done := make(chan error, 1)
	go func() {
		done <- n.raft.LeadershipTransferToServer(raft.ServerID(to.ID), raft.ServerAddress(to.Addr)).Error()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
