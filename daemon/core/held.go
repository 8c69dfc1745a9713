package core

import (
	"context"
	"fmt"
	"slices"

	"cairn/cas/chunk"
)

// GoneElsewhere returns those of ds (at most cluster.MaxAsk) that no other
// member of the cluster holds. It fails if a member does not answer: the
// chunks may be on it.
func (n *Node) GoneElsewhere(ctx context.Context, ds []chunk.Digest) ([]chunk.Digest, error) {
	voters, others, err := n.Others()
	if err != nil {
		return nil, err
	}
	gone := slices.Clone(ds)
	for _, m := range append(voters, others...) {
		if len(gone) == 0 {
			break
		}
		missing, err := n.peers.Lacks(ctx, m.Addr, gone)
		if err != nil {
			return nil, fmt.Errorf("ask %s which chunks it holds: %w", m.ID, err)
		}
		lacks := make(map[chunk.Digest]bool, len(missing))
		for _, d := range missing {
			lacks[d] = true
		}
		gone = slices.DeleteFunc(gone, func(d chunk.Digest) bool { return !lacks[d] })
	}
	return gone, nil
}
