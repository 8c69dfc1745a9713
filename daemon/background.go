package daemon

import (
	"context"
	"time"

	"cairn/cas/chunk"
)

// repairBatch is how many missing chunks a repair pass fetches.
const repairBatch = 256

// startBackground starts the node's background work; Close stops it.
func (s *Server) startBackground(ctx context.Context) {
	if s.cfg.Join != "" {
		s.bg.Go(func() {
			if !s.isMember() {
				s.join(ctx)
			}
		})
	}
	if s.cfg.GCInterval > 0 {
		s.bg.Go(func() { s.every(ctx, s.cfg.GCInterval, func() { s.collectGarbage(ctx) }) })
	}
	s.bg.Go(func() { s.every(ctx, s.cfg.RepairInterval, func() { s.repair(ctx) }) })
}

func (s *Server) every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			fn()
		case <-ctx.Done():
			return
		}
	}
}

// isMember reports whether this node is in the cluster's configuration.
func (s *Server) isMember() bool {
	f := s.node.Raft().GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == s.cfg.NodeID {
			return true
		}
	}
	return false
}

// repair walks the referenced chunks and fetches from peers those this
// node lacks, a batch at a time, recording how much is missing. A node
// that joined, returned from downtime or lost a disk fills up this way.
func (s *Server) repair(ctx context.Context) {
	if voters, others, err := s.peersOf(); err != nil || len(voters)+len(others) == 0 {
		return
	}
	st := s.node.State()
	var after chunk.Digest
	var missingCount, missingBytes int64
	var fetch []chunk.Digest
	for {
		refs, err := st.ChunkRefs(after, 4096)
		if err != nil || len(refs) == 0 {
			break
		}
		ds := make([]chunk.Digest, len(refs))
		size := map[chunk.Digest]int64{}
		for i, r := range refs {
			ds[i], size[r.Digest] = r.Digest, r.Size
		}
		missing, err := s.store.Missing(ctx, ds)
		if err != nil {
			return
		}
		for _, d := range missing {
			missingCount++
			missingBytes += size[d]
			if len(fetch) < repairBatch {
				fetch = append(fetch, d)
			}
		}
		after = refs[len(refs)-1].Digest
		if ctx.Err() != nil {
			return
		}
	}
	s.metrics.missingChunks.Store(missingCount)
	s.metrics.missingBytes.Store(missingBytes)
	for _, d := range fetch {
		if err := s.fetchFromPeers(ctx, []chunk.Digest{d}); err != nil {
			s.log.Debug("repair fetch failed", "digest", d.Short(), "err", err)
			continue
		}
		missingCount--
	}
	s.metrics.missingChunks.Store(missingCount)
}
