package upkeep

import (
	"context"
	"errors"
	"slices"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/daemon/cluster"
	"cairn/daemon/internal/metrics"
)

// repairBatch is how many missing chunks repair fetches at a time.
const repairBatch = 256

// Repair walks the referenced chunks and fetches from peers those this
// node lacks, in batches, at most RepairRate bytes a second, keeping
// count of what is missing. A node that joined, returned from downtime or
// lost a disk fills up this way. A pass walks the references twice: once
// to count what is missing (so that status and metrics show it from the
// start), once to fetch it page by page, so a chunk no peer holds never
// keeps repair from the ones after it.
//
// It reports whether the pass only checked (it found nothing missing, or
// could not walk), and how long that check took.
func (u *Upkeep) Repair(ctx context.Context) (checked bool, took time.Duration) {
	if voters, others, err := u.node.Others(); err != nil || len(voters)+len(others) == 0 {
		return true, 0
	}
	m := u.node.Metrics()
	walk := time.Now()
	count, bytes, err := u.walkMissing(ctx, nil)
	took = time.Since(walk)
	if err != nil {
		return true, took
	}
	m.MissingChunks.Store(count)
	m.MissingBytes.Store(bytes)
	if count == 0 {
		return true, took
	}
	start := time.Now()
	var fetched int64
	count, bytes, err = u.walkMissing(ctx, func(missing []chunk.Digest, size map[chunk.Digest]int64) error {
		for len(missing) > 0 {
			batch := missing[:min(len(missing), repairBatch)]
			missing = missing[len(batch):]
			err := u.node.FetchChunks(ctx, batch)
			if errors.Is(err, cas.ErrNoSpace) {
				// Nothing more fits: stop the pass (the store logs the
				// refusal) rather than ask the peers for every batch.
				return err
			}
			if err != nil {
				u.log.Debug("repair fetch incomplete", "err", err)
			}
			still, err := u.node.Lacks(ctx, batch)
			if err != nil {
				return err
			}
			got := int64(0)
			for _, d := range batch {
				if !slices.Contains(still, d) {
					got += size[d]
					metrics.DecreaseTo0(&m.MissingChunks, 1)
					metrics.DecreaseTo0(&m.MissingBytes, size[d])
				}
			}
			// Hold the average to RepairRate.
			fetched += got
			if due := time.Duration(float64(fetched) / float64(u.cfg.RepairRate) * float64(time.Second)); due > time.Since(start) {
				if err := cluster.Sleep(ctx, due-time.Since(start)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return false, took
	}
	m.MissingChunks.Store(count)
	m.MissingBytes.Store(bytes)
	return false, took
}

// walkMissing walks the chunks that committed objects reference, a page
// at a time, and hands each page's missing ones (with their sizes) to fn
// when fn is not nil. It returns how many chunks, and bytes, were missing
// after fn had its go at each page.
func (u *Upkeep) walkMissing(ctx context.Context, fn func([]chunk.Digest, map[chunk.Digest]int64) error) (count, bytes int64, err error) {
	st := u.node.State()
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
		missing, err := u.node.Lacks(ctx, ds)
		if err != nil {
			return 0, 0, err
		}
		if fn != nil && len(missing) > 0 {
			if err := fn(missing, size); err != nil {
				return 0, 0, err
			}
			if missing, err = u.node.Lacks(ctx, missing); err != nil {
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
