package core

import (
	"context"
	"errors"
	"log/slog"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/daemon/internal/metrics"
	"cairn/daemon/tier"
	"cairn/raftfsm"
)

// The cold tier (docs/scaling.md): chunks the replicated state records as
// tiered live in an S3-compatible bucket, and a node may drop its own
// copy of them. For the core this means three things: a chunk the tier
// holds counts as present to writers (Lacks), replication does not push
// it, and a read that needs it fetches it from the bucket, verified,
// when no peer has it.

// Lacks returns the digests of ds that this node does not hold and the
// cold tier does not hold either: what a writer must upload.
func (n *Node) Lacks(ctx context.Context, ds []chunk.Digest) ([]chunk.Digest, error) {
	missing, err := n.store.Missing(ctx, ds)
	if err != nil || len(missing) == 0 {
		return missing, err
	}
	return notTiered(n.State(), missing)
}

// notTiered returns the digests of ds that the cold tier does not hold
// for good: chunks with no record, or doomed ones (their copy is about to
// go).
func notTiered(st *raftfsm.State, ds []chunk.Digest) ([]chunk.Digest, error) {
	out := ds[:0:0]
	for _, d := range ds {
		rec, ok, err := st.Tiered(d)
		if err != nil {
			return nil, err
		}
		if !ok || rec.Doomed != 0 {
			out = append(out, d)
		}
	}
	return out, nil
}

// coldTier reads chunks back from the bucket of the cold tier.
type coldTier struct {
	bucket  *tier.Bucket
	store   *cas.Store
	metrics *metrics.Metrics
	log     *slog.Logger
}

// fetch gets from the bucket the chunks of want that the state records
// as tiered (live or doomed: a doomed copy stays until it is forgotten),
// keeps them, each verified against its digest, and returns the others.
func (c *coldTier) fetch(ctx context.Context, st *raftfsm.State, want []chunk.Digest) ([]chunk.Digest, error) {
	var left []chunk.Digest
	var errs []error
	for _, d := range want {
		if _, ok, err := st.Tiered(d); err != nil {
			return nil, err
		} else if !ok {
			left = append(left, d)
			continue
		}
		v, err := c.bucket.Get(ctx, d)
		if err == nil {
			_, err = c.store.PutStored(ctx, d, v)
		}
		if errors.Is(err, cas.ErrNoSpace) {
			return nil, err
		}
		if err != nil {
			errs = append(errs, err)
			left = append(left, d)
			continue
		}
		c.metrics.TierFetched.Add(1)
		c.metrics.TierFetchedBytes.Add(int64(len(v)))
	}
	if len(errs) > 0 {
		// Peers may still hold them; say why the tier did not serve them
		// if they do not.
		c.log.Warn("cold tier read failed", "chunks", len(errs), "err", errs[0])
	}
	return left, nil
}
