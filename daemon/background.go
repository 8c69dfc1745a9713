package daemon

import (
	"context"
	"slices"
	"time"

	"cairn/cas/chunk"
)

// Repair fetches missing chunks repairBatch at a time, and looks for at
// most repairScan of them per pass; a pass that found more starts the
// next at once.
const (
	repairBatch = 256
	repairScan  = 16 * repairBatch
)

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
// node lacks, in batches, at most RepairRate bytes a second, recording how
// much is missing. A node that joined, returned from downtime or lost a
// disk fills up this way.
func (s *Server) repair(ctx context.Context) {
	if voters, others, err := s.peersOf(); err != nil || len(voters)+len(others) == 0 {
		return
	}
	for s.repairPass(ctx) && ctx.Err() == nil {
	}
}

// repairPass scans the references once and fetches up to repairScan of
// the missing chunks; it reports whether it left some for another pass
// and made progress.
func (s *Server) repairPass(ctx context.Context) bool {
	st := s.node.State()
	var after chunk.Digest
	var missingCount, missingBytes int64
	var fetch []chunk.Digest
	size := map[chunk.Digest]int64{}
	for {
		refs, err := st.ChunkRefs(after, 4096)
		if err != nil || len(refs) == 0 {
			break
		}
		ds := make([]chunk.Digest, len(refs))
		sizes := make(map[chunk.Digest]int64, len(refs))
		for i, r := range refs {
			ds[i], sizes[r.Digest] = r.Digest, r.Size
		}
		missing, err := s.store.Missing(ctx, ds)
		if err != nil {
			return false
		}
		for _, d := range missing {
			missingCount++
			missingBytes += sizes[d]
			if len(fetch) < repairScan {
				fetch = append(fetch, d)
				size[d] = sizes[d]
			}
		}
		after = refs[len(refs)-1].Digest
		if ctx.Err() != nil {
			return false
		}
	}
	s.metrics.missingChunks.Store(missingCount)
	s.metrics.missingBytes.Store(missingBytes)
	start := time.Now()
	var fetched int64
	progress := false
	for len(fetch) > 0 {
		batch := fetch[:min(len(fetch), repairBatch)]
		fetch = fetch[len(batch):]
		err := s.fetchFromPeers(ctx, batch)
		got, _ := s.store.Missing(ctx, batch)
		for _, d := range batch {
			if !slices.Contains(got, d) {
				missingCount--
				missingBytes -= size[d]
				fetched += size[d]
				progress = true
			}
		}
		s.metrics.missingChunks.Store(missingCount)
		s.metrics.missingBytes.Store(missingBytes)
		if err != nil {
			s.log.Debug("repair fetch incomplete", "err", err)
		}
		// Hold the average to RepairRate.
		if due := time.Duration(float64(fetched) / float64(s.cfg.RepairRate) * float64(time.Second)); due > time.Since(start) {
			if sleepCtx(ctx, due-time.Since(start)) != nil {
				return false
			}
		}
	}
	return progress && missingCount > 0
}
