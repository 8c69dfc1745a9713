package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"cairn/daemon/cluster"
	"cairn/raftfsm"
)

// Propose commits a command: directly on the leader, forwarded to it from
// a follower. It returns once this node has applied the command, so a
// read here right after sees it. A rejection comes back as an error.
func (n *Node) Propose(ctx context.Context, c raftfsm.Command) (raftfsm.Result, error) {
	if n.closed.Load() {
		return raftfsm.Result{}, ErrShuttingDown
	}
	// Commands also fill the disk (the Raft log, the state database, whose
	// memtable file is memory-mapped like the value log): on a nearly full
	// disk only those that free space go through.
	if !frees(c) {
		if err := n.store.CheckSpace(0); err != nil {
			return raftfsm.Result{}, err
		}
	}
	if err := n.etags.settle(ctx, c); err != nil {
		return raftfsm.Result{}, err
	}
	r, err := n.raft.Apply(ctx, c)
	if errors.Is(err, raftfsm.ErrNotLeader) {
		r, err = n.forward(ctx, c)
	}
	if err != nil {
		return r, err
	}
	if r.Err != nil {
		return r, r.Err
	}
	if err := n.raft.WaitApplied(ctx, r.Index); err != nil {
		return r, fmt.Errorf("%w: committed at %d but not applied here: %v", raftfsm.ErrUnknownOutcome, r.Index, err)
	}
	return r, nil
}

// frees reports whether a command only takes things away: those go
// through on a nearly full disk, since they are how space is freed.
func frees(c raftfsm.Command) bool {
	switch c.(type) {
	case *raftfsm.DeleteObject, *raftfsm.DeletePrefix, *raftfsm.DeleteBucket, *raftfsm.DeleteBucketAndUploads,
		*raftfsm.DeleteRef, *raftfsm.AbortUpload:
		return true
	}
	return false
}

// leaderAttempts bounds how many times a request to the leader is sent
// again when the node it went to was not (or no longer) the leader.
const leaderAttempts = 20

// forward sends a command to the leader and returns its result. Failing
// to reach the leader before sending, or a node that answers it is not
// the leader (it proposed nothing), is "not written", and the command is
// sent again to whichever node leads next; failing after it was sent is an
// unknown outcome.
func (n *Node) forward(ctx context.Context, c raftfsm.Command) (raftfsm.Result, error) {
	b, err := raftfsm.Encode(c)
	if err != nil {
		return raftfsm.Result{}, err
	}
	var res raftfsm.Result
	err = n.toLeader(ctx, func(addr string) error {
		var err error
		res, err = n.peers.Apply(ctx, addr, b)
		switch {
		case err == nil, errors.Is(err, raftfsm.ErrNotLeader), isDialError(err), raftfsm.Code(err) != "":
			return err
		}
		return fmt.Errorf("%w: forward to %s: %v", raftfsm.ErrUnknownOutcome, addr, err)
	})
	return res, err
}

// toLeader calls fn with the leader's cluster address until fn succeeds
// or fails for a reason other than the leader: while no leader is known,
// when fn's node answers that it does not lead, or when it cannot be
// dialled, it waits and tries the next leader, leaderAttempts times at
// most. It returns raftfsm.ErrNoLeader when it runs out.
func (n *Node) toLeader(ctx context.Context, fn func(addr string) error) error {
	var lastErr error = raftfsm.ErrNoLeader
	for range leaderAttempts {
		pause := 100 * time.Millisecond
		_, addr := n.raft.Leader()
		if addr != "" && addr != n.cfg.Addr {
			err := fn(addr)
			if err == nil || !(errors.Is(err, raftfsm.ErrNotLeader) || isDialError(err)) {
				return err
			}
			lastErr = err
			if errors.Is(err, raftfsm.ErrNotLeader) {
				pause = 50 * time.Millisecond
			}
		}
		if err := cluster.Sleep(ctx, pause); err != nil {
			return fmt.Errorf("%w: %v", raftfsm.ErrNoLeader, lastErr)
		}
	}
	return fmt.Errorf("%w: %v", raftfsm.ErrNoLeader, lastErr)
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
