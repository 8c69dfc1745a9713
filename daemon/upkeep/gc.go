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

// GCResult reports one garbage collection pass.
type GCResult struct {
	// Full: the pass walked every local chunk, not the zero-reference
	// table.
	Full bool `json:"full"`
	// Scanned counts the zero-reference entries, or the local chunks, the
	// pass looked at.
	Scanned int64 `json:"scanned"`
	// Candidates counts the unreferenced chunks this node held.
	Candidates int64 `json:"candidates"`
	// Deleted counts the chunks deleted, FreedBytes their stored bytes;
	// the compactor gives their space back to the file system.
	Deleted    int64 `json:"deleted"`
	FreedBytes int64 `json:"freed_bytes"`
	// Kept counts the candidates a writer touched within the grace
	// period; a later pass takes them.
	Kept int64 `json:"kept"`
	// Pruned counts the zero-reference entries forgotten because no
	// member holds their chunk any more (the leader prunes; 0 elsewhere).
	Pruned int64 `json:"pruned"`
	// Backlog is the zero-reference table's length after the pass.
	Backlog int64   `json:"backlog"`
	Seconds float64 `json:"seconds"`
}

// gcPage is how many chunks GC looks up, collects and prunes at a time.
const gcPage = 1024

// GC deletes the chunks of this node that no committed file needs, and
// on the leader forgets the ones no member holds any more. Its work is
// proportional to the garbage, not to the store: the replicated state
// keeps a zero-reference table of the chunks whose count fell to zero,
// and GC pages through it. First the node catches up with everything the
// leader committed (a lagging state would count too few references).
// Collect then deletes a candidate only if no write has touched it
// within the grace period, which covers uploads whose commit is still on
// its way and dedup hits that are about to reference the chunk again.
//
// A chunk that was stored but never referenced (an upload that failed
// before its commit) is in no table: FullGC finds those.
func (u *Upkeep) GC(ctx context.Context) (GCResult, error) {
	return u.gc(ctx, false)
}

// FullGC is GC over every chunk of the local store, looking each up in
// the reference counts: it also finds chunks that no file ever
// referenced. It reads the whole store; Run does it every
// GCFullInterval.
func (u *Upkeep) FullGC(ctx context.Context) (GCResult, error) {
	return u.gc(ctx, true)
}

func (u *Upkeep) gc(ctx context.Context, full bool) (res GCResult, err error) {
	u.gcMu.Lock()
	defer u.gcMu.Unlock()
	start := time.Now()
	res.Full = full
	if err := u.node.ReadBarrier(ctx); err != nil {
		return res, fmt.Errorf("gc: catch up with the leader: %w", err)
	}
	c := collector{u: u, idleSince: u.node.Now().Add(-u.cfg.GCGrace), res: &res}
	if full {
		err = c.walkStore(ctx)
	} else {
		err = c.walkZero(ctx)
	}
	res.Seconds = time.Since(start).Seconds()
	m := u.node.Metrics()
	m.GCRuns.Add(1)
	m.GCDeleted.Add(res.Deleted)
	m.GCFreed.Add(res.FreedBytes)
	if err == nil && !full {
		m.GCBacklog.Store(res.Backlog)
	}
	if res.Deleted > 0 || res.Pruned > 0 {
		u.log.Info("garbage collected", "full", full, "deleted", res.Deleted, "freed_bytes", res.FreedBytes,
			"kept", res.Kept, "pruned", res.Pruned, "backlog", res.Backlog, "seconds", res.Seconds)
	}
	return res, err
}

// collector is one GC pass's sweep.
type collector struct {
	u         *Upkeep
	idleSince time.Time
	res       *GCResult
}

// collect deletes candidates that are idle enough.
func (c *collector) collect(ctx context.Context, candidates []chunk.Digest) error {
	if len(candidates) == 0 {
		return nil
	}
	r, err := c.u.node.Store().Collect(ctx, candidates, c.idleSince)
	c.res.Candidates += int64(len(candidates))
	c.res.Deleted += r.Deleted
	c.res.FreedBytes += r.Freed
	c.res.Kept += int64(len(candidates)) - r.Deleted
	return err
}

// walkZero pages through the zero-reference table: it collects the
// chunks this node holds and, on the leader, prunes those no member holds.
func (c *collector) walkZero(ctx context.Context) error {
	st := c.u.node.State()
	store := c.u.node.Store()
	var after chunk.Digest
	for {
		page, err := st.ZeroChunksAfter(after, gcPage)
		if err != nil || len(page) == 0 {
			return err
		}
		after = page[len(page)-1].Digest
		ds := make([]chunk.Digest, len(page))
		for i, z := range page {
			ds[i] = z.Digest
		}
		c.res.Scanned += int64(len(ds))
		c.res.Backlog += int64(len(ds))
		missing, err := store.Lacks(ctx, ds)
		if err != nil {
			return err
		}
		if err := c.collect(ctx, without(ds, missing)); err != nil {
			return err
		}
		if !c.u.node.Raft().IsLeader() {
			continue
		}
		if err := c.prune(ctx, ds); err != nil {
			// The next pass tries again: an unreachable member may still
			// hold the chunks.
			c.u.log.Debug("gc: zero-reference entries not pruned", "err", err)
		}
	}
}

// prune forgets the entries of ds whose chunk no member holds any more.
func (c *collector) prune(ctx context.Context, ds []chunk.Digest) error {
	gone, err := c.u.node.Store().Lacks(ctx, ds)
	if err != nil || len(gone) == 0 {
		return err
	}
	if gone, err = c.u.node.GoneElsewhere(ctx, gone); err != nil || len(gone) == 0 {
		return err
	}
	for len(gone) > 0 {
		n := min(len(gone), raftfsm.MaxPruneZero)
		r, err := c.u.node.Propose(ctx, &raftfsm.PruneZero{Digests: gone[:n]})
		if err != nil {
			return err
		}
		c.res.Pruned += int64(r.Deleted)
		c.res.Backlog -= int64(r.Deleted)
		gone = gone[n:]
	}
	return nil
}

// walkStore walks every local chunk and collects those no file needs.
func (c *collector) walkStore(ctx context.Context) error {
	st := c.u.node.State()
	var batch []chunk.Digest
	err := c.u.node.Store().Walk(ctx, func(d cas.Digest, _ int64) error {
		c.res.Scanned++
		refs, err := st.ChunkRefCount(d)
		if err != nil || refs > 0 {
			return err
		}
		batch = append(batch, d)
		if len(batch) == gcPage {
			// Walk holds a read view; Collect writes in its own, which
			// Badger allows alongside.
			err := c.collect(ctx, batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.collect(ctx, batch)
}

// without returns ds less the digests of drop; both in the same order.
func without(ds, drop []chunk.Digest) []chunk.Digest {
	if len(drop) == 0 {
		return ds
	}
	skip := make(map[chunk.Digest]bool, len(drop))
	for _, d := range drop {
		skip[d] = true
	}
	out := make([]chunk.Digest, 0, len(ds)-len(drop))
	for _, d := range ds {
		if !skip[d] {
			out = append(out, d)
		}
	}
	return out
}

// ExpireBatch is how many expired uploads one pass looks up at a time.
const ExpireBatch = 256

// ExpireUploads aborts the multipart uploads created more than
// UploadExpiry ago, through Raft, so that their parts stop holding chunks
// from GC. Only the leader does it, so that the nodes do not all propose
// the same aborts; it stops when it no longer leads. One pass goes once
// through the uploads, in id order: an upload completed or aborted
// meanwhile is skipped, and one whose abort fails is logged and left to
// the next pass without holding up the others. It returns how many it
// aborted.
func (u *Upkeep) ExpireUploads(ctx context.Context) (int, error) {
	if u.cfg.UploadExpiry <= 0 {
		return 0, nil
	}
	before := u.node.Now().Add(-u.cfg.UploadExpiry).UnixNano()
	aborted, failed := 0, 0
	var lastErr error
	after := ""
	for u.node.Raft().IsLeader() {
		ups, err := u.node.State().UploadsBefore(before, after, ExpireBatch)
		if err != nil {
			return aborted, err
		}
		if len(ups) == 0 {
			break
		}
		after = ups[len(ups)-1].UploadID
		for _, up := range ups {
			if err := ctx.Err(); err != nil {
				return aborted, err
			}
			_, err := u.node.Propose(ctx, &raftfsm.AbortUpload{UploadID: up.UploadID})
			switch {
			case errors.Is(err, raftfsm.ErrNoSuchUpload):
				continue
			case err != nil:
				failed++
				lastErr = err
				continue
			}
			aborted++
			u.node.Metrics().UploadsExpired.Add(1)
			u.log.Info("multipart upload expired", "bucket", up.Bucket, "key", up.Key, "upload_id", up.UploadID,
				"created", time.Unix(0, up.Time).UTC().Format(time.RFC3339))
		}
		if len(ups) < ExpireBatch {
			break
		}
	}
	if failed > 0 {
		return aborted, fmt.Errorf("expire uploads: %d aborts failed, the last: %w", failed, lastErr)
	}
	return aborted, nil
}
