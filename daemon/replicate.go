package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"

	"github.com/hashicorp/raft"
)

// peersOf returns the other servers of the cluster, voters first.
func (s *Server) peersOf() (voters, others []raft.Server, err error) {
	f := s.node.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, nil, err
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == s.cfg.NodeID {
			continue
		}
		if srv.Suffrage == raft.Voter {
			voters = append(voters, srv)
		} else {
			others = append(others, srv)
		}
	}
	return voters, others, nil
}

// replicate makes sure that a majority of the voters, this node included,
// hold every chunk of recipe synced to disk, pushing to the peers what
// they lack. It returns once the quorum is reached; pushes to the other
// peers go on in the background for a while, and repair covers the rest.
// When the quorum cannot be reached it returns errQuorum and nothing is
// committed.
func (s *Server) replicate(ctx context.Context, recipe cas.Recipe) error {
	voters, others, err := s.peersOf()
	if err != nil {
		return err
	}
	if len(voters) == 0 {
		return nil
	}
	// A majority of the len(voters)+1 voters, this node being one.
	need := (len(voters) + 1) / 2
	digests := recipe.Distinct()
	results := make(chan error, len(voters))
	bg, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var wg sync.WaitGroup
	for _, p := range voters {
		wg.Go(func() { results <- s.pushTo(bg, string(p.Address), digests) })
	}
	for _, p := range others { // non-voters catch up; they are not part of the quorum
		wg.Go(func() { s.pushTo(bg, string(p.Address), digests) })
	}
	s.bg.Go(func() { wg.Wait(); cancel() })
	ok, failed := 0, 0
	var errs []error
	for ok < need {
		select {
		case err := <-results:
			if err == nil {
				ok++
				continue
			}
			failed++
			errs = append(errs, err)
			if len(voters)-failed < need {
				return fmt.Errorf("%w: %d of %d peers failed: %v", errQuorum, failed, len(voters), errs)
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", errQuorum, ctx.Err())
		}
	}
	return nil
}

// fetchFromPeers gets the given chunks from whichever peers hold them,
// verifies each against its digest and keeps it.
func (s *Server) fetchFromPeers(ctx context.Context, digests []chunk.Digest) error {
	voters, others, err := s.peersOf()
	if err != nil {
		return err
	}
	peers := append(voters, others...)
	for _, d := range digests {
		var lastErr error = errChunkNotFound
		got := false
		for _, p := range peers {
			var b []byte
			if err := s.peers.do(ctx, http.MethodGet, string(p.Address), "/peer/chunks/"+d.String(), nil, &b); err != nil {
				lastErr = err
				continue
			}
			if _, err := s.store.PutStored(ctx, d, b); err != nil {
				lastErr = err // a peer sent bytes that do not match: try the next
				continue
			}
			s.metrics.repaired.Add(1)
			got = true
			break
		}
		if !got {
			return fmt.Errorf("%w: %s: %v", errChunkNotFound, d.Short(), lastErr)
		}
	}
	return nil
}
