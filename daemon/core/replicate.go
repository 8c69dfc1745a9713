package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/daemon/cluster"
	"cairn/raftfsm"
)

// replicate makes sure that a majority of the voters, this node included,
// hold every chunk of recipe (file d's) synced to disk, pushing to the
// peers what they lack; a file the state already holds needs nothing
// (heldFile). It returns once the quorum is reached; pushes to the other
// peers go on in the background for a while, and repair covers the rest.
// When the quorum cannot be reached it returns ErrQuorum and nothing is
// committed.
func (n *Node) replicate(ctx context.Context, d chunk.Digest, recipe cas.Recipe, pp *prePush) error {
	if heldFile(n.State(), d, recipe) {
		return nil
	}
	return n.replicateChunks(ctx, recipe, pp)
}

// replicateChunks is replicate for chunks of any files: the quorum holds
// every chunk of recipe once it returns.
func (n *Node) replicateChunks(ctx context.Context, recipe cas.Recipe, pp *prePush) error {
	voters, others, err := n.Others()
	if err != nil {
		return err
	}
	if len(voters) == 0 {
		return nil
	}
	// A majority of the len(voters)+1 voters, this node being one.
	need := (len(voters) + 1) / 2
	// Chunks the cold tier holds are durable there: peers need not take
	// them (and this node may not hold them).
	digests, err := notTiered(n.State(), recipe.Distinct())
	if err != nil {
		return err
	}
	results := make(chan error, len(voters))
	bg, cancel := context.WithTimeout(n.bg.ctx, 5*time.Minute)
	var wg sync.WaitGroup
	// A peer still taking the early pushes finishes them first, so that
	// when it answers what it lacks it has synced all it took.
	for _, p := range voters {
		wg.Go(func() { pp.waitFor(p.Addr); results <- n.pushTo(bg, p.Addr, digests) })
	}
	for _, p := range others { // non-voters catch up; they are not part of the quorum
		wg.Go(func() { pp.waitFor(p.Addr); n.pushTo(bg, p.Addr, digests) })
	}
	if !n.bg.run(func() { wg.Wait(); cancel() }) {
		// Closing: the pushes end with bg.ctx; wait for them here.
		defer func() { wg.Wait(); cancel() }()
	}
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
				return fmt.Errorf("%w: %d of %d peers failed: %v", ErrQuorum, failed, len(voters), errs)
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrQuorum, ctx.Err())
		}
	}
	return nil
}

// heldFile reports whether the state already holds this exact file, the
// same digest and recipe: its chunks reached a write quorum when it was
// first committed, and no node collects them while a file references
// them, so writing it again need not ask the peers (MLflow's env files,
// logged again with every run, are such writes).
func heldFile(st *raftfsm.State, d chunk.Digest, recipe cas.Recipe) bool {
	rec, err := st.File(d)
	return err == nil && slices.Equal(rec.Recipe, recipe)
}

// pushTo sends a peer the chunks it lacks, in batches, two at a time.
func (n *Node) pushTo(ctx context.Context, addr string, digests []chunk.Digest) error {
	for len(digests) > 0 {
		k := min(len(digests), cluster.MaxAsk)
		missing, err := n.peers.Missing(ctx, addr, digests[:k])
		if err != nil {
			return err
		}
		if err := n.pushBatches(ctx, addr, missing); err != nil {
			return err
		}
		digests = digests[k:]
	}
	return nil
}

func (n *Node) pushBatches(ctx context.Context, addr string, missing []chunk.Digest) error {
	errc := make(chan error, 2)
	inflight := 0
	var batch []cas.StoredChunk
	size := 0
	send := func() {
		b := batch
		batch, size = nil, 0
		inflight++
		go func() { errc <- n.push(ctx, addr, b) }()
	}
	var firstErr error
	wait := func() {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = fmt.Errorf("push chunks to %s: %w", addr, err)
		}
		inflight--
	}
	for _, d := range missing {
		v, err := n.store.GetStored(ctx, d, cas.ForPeer)
		if err != nil {
			firstErr = err
			break
		}
		batch = append(batch, cas.StoredChunk{Digest: d, Value: v})
		if size += len(v); size >= cluster.BatchBytes {
			if inflight == 2 {
				wait()
			}
			if firstErr != nil {
				break
			}
			send()
		}
	}
	if firstErr == nil && len(batch) > 0 {
		send()
	}
	for inflight > 0 {
		wait()
	}
	return firstErr
}

// push sends a peer one batch. A node from before the S2 codec (met
// during a rolling upgrade) refuses S2 forms as a digest mismatch; the
// batch then goes again with those chunks raw, which every node reads.
func (n *Node) push(ctx context.Context, addr string, batch []cas.StoredChunk) error {
	err := n.peers.Push(ctx, addr, cluster.EncodeBatch(batch))
	if !errors.Is(err, cas.ErrDigestMismatch) {
		return err
	}
	raw, changed, rerr := cluster.RawForms(ctx, n.store, batch)
	if rerr != nil || !changed {
		return err
	}
	return n.peers.Push(ctx, addr, cluster.EncodeBatch(raw))
}
