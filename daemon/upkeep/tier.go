package upkeep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/raftfsm"
)

// TierResult reports one pass of the cold tier on one node.
type TierResult struct {
	// Cold counts the local chunks no read used within TierAfter.
	Cold int64 `json:"cold"`
	// Copied counts the cold chunks the leader copied to the bucket, and
	// CopiedBytes their stored bytes.
	Copied      int64 `json:"copied"`
	CopiedBytes int64 `json:"copied_bytes"`
	// Evicted counts the chunks this node dropped from its disk because
	// the bucket holds them, EvictedBytes the stored bytes of their
	// copies there.
	Evicted      int64 `json:"evicted"`
	EvictedBytes int64 `json:"evicted_bytes"`
	// Doomed counts the tiered chunks the leader marked for deletion (no
	// file references them), Forgotten those it forgot after the grace
	// period, and Deleted the copies it then deleted from the bucket.
	Doomed    int64   `json:"doomed"`
	Forgotten int64   `json:"forgotten"`
	Deleted   int64   `json:"deleted"`
	Seconds   float64 `json:"seconds"`
}

// ErrNoTier is returned by Tier on a node with no cold tier configured.
var ErrNoTier = errors.New("upkeep: no cold tier is configured (tier_endpoint, tier_bucket)")

// tierPage is how many chunks a tier pass handles at a time.
const tierPage = 1024

// Tier runs one pass of the cold tier (docs/scaling.md):
//
//  1. On the leader, every local chunk that files reference and no read
//     used within TierAfter is copied to the bucket, and TierChunks
//     records the copies in the replicated state.
//  2. On every node, a local chunk the state records as tiered (and not
//     doomed) that no read here used within TierAfter is dropped from
//     the disk. A read fetches it back from the bucket, verified.
//  3. On the leader, tiered chunks no file references any more are
//     doomed; those doomed longer than GCGrace ago and still unreferenced
//     are forgotten, and only then deleted from the bucket.
//
// A copy is recorded only after the bucket acknowledged it, and a node
// drops its own only once that record is applied here: at no point is
// the bucket's copy the only one before the bucket has it.
func (u *Upkeep) Tier(ctx context.Context) (res TierResult, err error) {
	if u.cfg.Tier == nil {
		return res, ErrNoTier
	}
	u.tierMu.Lock()
	defer u.tierMu.Unlock()
	start := time.Now()
	defer func() { res.Seconds = time.Since(start).Seconds() }()
	if err := u.node.ReadBarrier(ctx); err != nil {
		return res, fmt.Errorf("tier: catch up with the leader: %w", err)
	}
	before := u.node.Now().Add(-u.cfg.TierAfter)
	var after chunk.Digest
	for {
		cold, done, err := u.node.Store().Cold(ctx, before, after, tierPage)
		if err != nil {
			return res, err
		}
		res.Cold += int64(len(cold))
		if err := u.tierPage(ctx, cold, &res); err != nil {
			return res, err
		}
		if done {
			break
		}
		after = cold[len(cold)-1]
	}
	if u.node.Raft().IsLeader() {
		if err := u.expireTiered(ctx, &res); err != nil {
			return res, err
		}
	}
	if res.Copied > 0 || res.Evicted > 0 || res.Forgotten > 0 {
		u.log.Info("cold tier pass", "copied", res.Copied, "copied_bytes", res.CopiedBytes, "evicted", res.Evicted,
			"evicted_bytes", res.EvictedBytes, "doomed", res.Doomed, "forgotten", res.Forgotten, "seconds", time.Since(start).Seconds())
	}
	return res, nil
}

// tierPage copies (on the leader) and drops (everywhere) one page of cold
// chunks.
func (u *Upkeep) tierPage(ctx context.Context, cold []chunk.Digest, res *TierResult) error {
	st := u.node.State()
	store := u.node.Store()
	m := u.node.Metrics()
	if u.node.Raft().IsLeader() {
		var copies []raftfsm.TieredChunk
		for _, d := range cold {
			if _, ok, err := st.Tiered(d); err != nil || ok {
				if err != nil {
					return err
				}
				continue
			}
			if refs, err := st.ChunkRefCount(d); err != nil || refs == 0 {
				if err != nil {
					return err
				}
				continue // garbage: GC's to delete, not the tier's to keep
			}
			v, err := store.GetStored(ctx, d, cas.ForPeer)
			if errors.Is(err, cas.ErrNotFound) {
				continue // collected meanwhile
			}
			if err != nil {
				return err
			}
			if err := u.cfg.Tier.Put(ctx, d, v); err != nil {
				return err
			}
			copies = append(copies, raftfsm.TieredChunk{Digest: d, Stored: int64(len(v))})
			res.Copied++
			res.CopiedBytes += int64(len(v))
			m.TierCopied.Add(1)
			m.TierCopiedBytes.Add(int64(len(v)))
		}
		for len(copies) > 0 {
			n := min(len(copies), raftfsm.MaxTierBatch)
			if _, err := u.node.Propose(ctx, &raftfsm.TierChunks{Chunks: copies[:n]}); err != nil {
				return fmt.Errorf("tier: record copies: %w", err)
			}
			copies = copies[n:]
		}
	}
	var drop []chunk.Digest
	var dropBytes int64
	for _, d := range cold {
		rec, ok, err := st.Tiered(d)
		if err != nil {
			return err
		}
		if ok && rec.Doomed == 0 {
			drop = append(drop, d)
			dropBytes += rec.Stored
		}
	}
	if len(drop) == 0 {
		return nil
	}
	if err := store.Delete(ctx, drop...); err != nil {
		return fmt.Errorf("tier: drop local copies: %w", err)
	}
	res.Evicted += int64(len(drop))
	res.EvictedBytes += dropBytes
	m.TierEvicted.Add(int64(len(drop)))
	m.TierEvictedBytes.Add(dropBytes)
	return nil
}

// expireTiered dooms the tiered chunks no file references, and forgets
// and deletes those doomed more than GCGrace ago.
func (u *Upkeep) expireTiered(ctx context.Context, res *TierResult) error {
	st := u.node.State()
	now := u.node.Now()
	doomedBefore := now.Add(-u.cfg.GCGrace).UnixNano()
	var after chunk.Digest
	for {
		page, err := st.TieredAfter(after, raftfsm.MaxTierBatch)
		if err != nil || len(page) == 0 {
			return err
		}
		after = page[len(page)-1].Digest
		var doom, forget []chunk.Digest
		for _, e := range page {
			refs, err := st.ChunkRefCount(e.Digest)
			if err != nil {
				return err
			}
			switch {
			case refs > 0:
			case e.Doomed == 0:
				doom = append(doom, e.Digest)
			case e.Doomed <= doomedBefore:
				forget = append(forget, e.Digest)
			}
		}
		if len(doom) > 0 {
			r, err := u.node.Propose(ctx, &raftfsm.DoomTiered{Digests: doom, Time: now.UnixNano()})
			if err != nil {
				return fmt.Errorf("tier: doom unreferenced chunks: %w", err)
			}
			res.Doomed += int64(r.Deleted)
		}
		if len(forget) > 0 {
			if _, err := u.node.Propose(ctx, &raftfsm.ForgetTiered{Digests: forget, DoomedBefore: doomedBefore}); err != nil {
				return fmt.Errorf("tier: forget doomed chunks: %w", err)
			}
			for _, d := range forget {
				// Delete only what the state no longer calls tiered: a
				// chunk referenced again meanwhile stays.
				if _, ok, err := st.Tiered(d); err != nil || ok {
					if err != nil {
						return err
					}
					continue
				}
				res.Forgotten++
				if err := u.cfg.Tier.Delete(ctx, d); err != nil {
					return err
				}
				res.Deleted++
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
