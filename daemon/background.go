package daemon

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
)

// repairBatch is how many missing chunks repair fetches at a time.
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
	if s.cfg.UploadExpiry > 0 {
		every := max(min(s.cfg.UploadExpiry/4, time.Hour), time.Second)
		s.bg.Go(func() {
			s.every(ctx, every, func() {
				if _, err := s.expireUploads(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("multipart upload expiry", "err", err)
				}
			})
		})
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
// node lacks, in batches, at most RepairRate bytes a second, keeping
// count of what is missing. A node that joined, returned from downtime or
// lost a disk fills up this way. A pass walks the references twice: once
// to count what is missing (so that status and metrics show it from the
// start), once to fetch it page by page, so a chunk no peer holds never
// keeps repair from the ones after it.
func (s *Server) repair(ctx context.Context) {
	if voters, others, err := s.peersOf(); err != nil || len(voters)+len(others) == 0 {
		return
	}
	count, bytes, err := s.walkMissing(ctx, nil)
	if err != nil {
		return
	}
	s.metrics.missingChunks.Store(count)
	s.metrics.missingBytes.Store(bytes)
	if count == 0 {
		return
	}
	start := time.Now()
	var fetched int64
	count, bytes, err = s.walkMissing(ctx, func(missing []chunk.Digest, size map[chunk.Digest]int64) error {
		for len(missing) > 0 {
			batch := missing[:min(len(missing), repairBatch)]
			missing = missing[len(batch):]
			err := s.fetchFromPeers(ctx, batch)
			if errors.Is(err, cas.ErrNoSpace) {
				// Nothing more fits: stop the pass (the store logs the
				// refusal) rather than ask the peers for every batch.
				return err
			}
			if err != nil {
				s.log.Debug("repair fetch incomplete", "err", err)
			}
			still, err := s.store.Missing(ctx, batch)
			if err != nil {
				return err
			}
			got := int64(0)
			for _, d := range batch {
				if !slices.Contains(still, d) {
					got += size[d]
					decreaseTo0(&s.metrics.missingChunks, 1)
					decreaseTo0(&s.metrics.missingBytes, size[d])
				}
			}
			// Hold the average to RepairRate.
			fetched += got
			if due := time.Duration(float64(fetched) / float64(s.cfg.RepairRate) * float64(time.Second)); due > time.Since(start) {
				if err := sleepCtx(ctx, due-time.Since(start)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return
	}
	s.metrics.missingChunks.Store(count)
	s.metrics.missingBytes.Store(bytes)
}

// decreaseTo0 subtracts n from v, stopping at zero: chunks that went
// missing after the count are fetched too, and end up in the next one.
func decreaseTo0(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if v.CompareAndSwap(old, max(old-n, 0)) {
			return
		}
	}
}

// walkMissing walks the chunks that committed objects reference, a page
// at a time, and hands each page's missing ones (with their sizes) to fn
// when fn is not nil. It returns how many chunks, and bytes, were missing
// after fn had its go at each page.
func (s *Server) walkMissing(ctx context.Context, fn func([]chunk.Digest, map[chunk.Digest]int64) error) (count, bytes int64, err error) {
	st := s.node.State()
	var after chunk.Digest
	for {
		refs, err := st.ChunkRefs(after, 4096)
		if err != nil {
			return 0, 0, err
		}
		if len(refs) == 0 {
			return count, bytes, nil
		}
		ds := make([]chunk.Digest, len(refs))
		size := make(map[chunk.Digest]int64, len(refs))
		for i, r := range refs {
			ds[i], size[r.Digest] = r.Digest, r.Size
		}
		missing, err := s.store.Missing(ctx, ds)
		if err != nil {
			return 0, 0, err
		}
		if fn != nil && len(missing) > 0 {
			if err := fn(missing, size); err != nil {
				return 0, 0, err
			}
			if missing, err = s.store.Missing(ctx, missing); err != nil {
				return 0, 0, err
			}
		}
		for _, d := range missing {
			count++
			bytes += size[d]
		}
		after = refs[len(refs)-1].Digest
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
	}
}
