package core

import (
	"context"
	"slices"
	"time"

	"cairn/raftfsm"
)

// RunFeatures turns the cluster's features on while this node leads: each
// feature of this release (raftfsm.Features) the cluster does not have on
// yet, once every member, voter or not, says it knows it (a node of an
// older release would stop at the first entry, or snapshot, it cannot
// read). It asks at once on becoming leader, then every ten seconds while
// a feature is off. It returns when ctx ends.
func RunFeatures(ctx context.Context, n *Node) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var asked time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.raft.IsLeader() && time.Since(asked) >= 10*time.Second {
			asked = time.Now()
			enableFeatures(ctx, n)
		}
	}
}

// enableFeatures proposes the features the cluster does not have on and
// every member knows.
func enableFeatures(ctx context.Context, n *Node) {
	var off []string
	for _, f := range raftfsm.Features {
		if !n.State().Feature(f) {
			off = append(off, f)
		}
	}
	if len(off) == 0 {
		return
	}
	voters, others, err := n.Others()
	if err != nil {
		return
	}
	for _, m := range append(voters, others...) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := n.peers.Status(cctx, m.Addr)
		cancel()
		if err != nil {
			n.log.Info("cluster features wait for every member to answer", "member", m.ID, "err", err)
			return
		}
		off = slices.DeleteFunc(off, func(f string) bool {
			if !slices.Contains(st.Features, f) {
				n.log.Info("cluster feature waits for every member to know it", "feature", f, "member", m.ID)
				return true
			}
			return false
		})
	}
	for _, f := range off {
		if _, err := n.Propose(ctx, &raftfsm.EnableFeature{Name: f}); err != nil {
			n.log.Warn("turn cluster feature on", "feature", f, "err", err)
			return
		}
		n.log.Info("cluster feature on", "feature", f)
	}
}
