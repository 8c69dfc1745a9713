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
	Scanned    int64         `json:"scanned"`
	Candidates int64         `json:"candidates"`
	Deleted    int64         `json:"deleted"`
	Took       time.Duration `json:"took"`
}

// gcBatch is how many unreferenced chunks one Collect call takes.
const gcBatch = 1024

// GC deletes the chunks of this node that no committed file needs. It is
// mark and sweep against the replicated reference counts: first this
// node catches up with everything the leader committed (a lagging state
// would count too few references); then every local chunk whose count is
// zero is a candidate; Collect deletes a candidate only if no write has
// touched it within the grace period, which covers uploads whose commit
// is still on its way and dedup hits that are about to reference the
// chunk again.
func (u *Upkeep) GC(ctx context.Context) (GCResult, error) {
	start := time.Now()
	var res GCResult
	if err := u.node.ReadBarrier(ctx); err != nil {
		return res, fmt.Errorf("gc: catch up with the leader: %w", err)
	}
	idleSince := u.node.Now().Add(-u.cfg.GCGrace)
	st := u.node.State()
	store := u.node.Store()
	var batch []chunk.Digest
	sweep := func() error {
		n, err := store.Collect(ctx, batch, idleSince)
		res.Deleted += int64(n)
		batch = batch[:0]
		return err
	}
	err := store.Walk(ctx, func(d cas.Digest, _ int64) error {
		res.Scanned++
		refs, err := st.ChunkRefCount(d)
		if err != nil || refs > 0 {
			return err
		}
		res.Candidates++
		batch = append(batch, d)
		if len(batch) == gcBatch {
			// Walk holds a read view; Collect writes in its own, which
			// Badger allows alongside.
			return sweep()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = sweep()
	}
	res.Took = time.Since(start)
	m := u.node.Metrics()
	m.GCRuns.Add(1)
	m.GCDeleted.Add(res.Deleted)
	if res.Deleted > 0 {
		u.log.Info("garbage collected", "deleted", res.Deleted, "candidates", res.Candidates, "scanned", res.Scanned, "took", res.Took)
	}
	return res, err
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
