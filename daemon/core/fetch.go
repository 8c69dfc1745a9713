package core

import (
	"context"
	"errors"
	"fmt"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/daemon/cluster"
)

// fetchAsk bounds the digests one fetch lists: an answer holds about
// cluster.BatchBytes of chunks (some 64 of 128 KiB), so a longer list
// would only be sent again and again.
const fetchAsk = 1024

// FetchChunks gets the given chunks from whichever peers hold them, in
// batches, then what no peer held from the cold tier, each chunk verified
// against its digest before it is kept.
func (n *Node) FetchChunks(ctx context.Context, digests []chunk.Digest) error {
	voters, others, err := n.Others()
	if err != nil {
		return err
	}
	want := digests
	var lastErr error = ErrChunkNotFound
	for _, p := range append(voters, others...) {
		var lacked []chunk.Digest // what this peer does not have, for the next
		for len(want) > 0 {
			ask := want[:min(len(want), fetchAsk)]
			got, added, looked, err := n.fetchBatch(ctx, p.Addr, ask)
			if errors.Is(err, cluster.ErrNoRoute) {
				got, added, looked, err = n.fetchEach(ctx, p.Addr, ask)
			}
			if errors.Is(err, cas.ErrNoSpace) {
				return err // this node cannot keep them, from any peer
			}
			if err != nil {
				lastErr = err
				lacked = append(lacked, want...)
				break
			}
			n.metrics.Repaired.Add(int64(added))
			have := make(map[chunk.Digest]bool, len(got))
			for _, d := range got {
				have[d] = true
			}
			for _, d := range ask[:looked] {
				if !have[d] {
					lacked = append(lacked, d)
				}
			}
			want = want[looked:]
		}
		want = lacked
		if len(want) == 0 {
			return nil
		}
	}
	if len(want) > 0 && n.cold != nil {
		if want, err = n.cold.fetch(ctx, n.State(), want); err != nil {
			return err
		}
	}
	if len(want) == 0 {
		return nil
	}
	if len(want) > 1 {
		return fmt.Errorf("%w: %s and %d more: %v", ErrChunkNotFound, want[0].Short(), len(want)-1, lastErr)
	}
	return fmt.Errorf("%w: %s: %v", ErrChunkNotFound, want[0].Short(), lastErr)
}

// fetchBatch asks addr for the given chunks (at most cluster.MaxAsk) and
// keeps the ones it sends, each verified. It returns the digests it got,
// how many of them were new here, and how many of the list the peer
// looked at: the ones it looked at and did not send, it lacks.
func (n *Node) fetchBatch(ctx context.Context, addr string, digests []chunk.Digest) (got []chunk.Digest, added, looked int, err error) {
	cs, looked, err := n.peers.Fetch(ctx, addr, digests, n.store.Params().MaxSize)
	if err != nil {
		return nil, 0, 0, err
	}
	added, err = n.store.PutStoredBatch(ctx, cs)
	if err != nil {
		if !errors.Is(err, cas.ErrDigestMismatch) {
			return nil, 0, 0, err
		}
		// One of them is wrong: keep the others, one at a time.
		added = 0
		for _, c := range cs {
			ok, err := n.store.PutStored(ctx, c.Digest, c.Value)
			if err == nil {
				got = append(got, c.Digest)
				if ok {
					added++
				}
			} else if !errors.Is(err, cas.ErrDigestMismatch) {
				return got, added, looked, err
			}
		}
		return got, added, looked, nil
	}
	for _, c := range cs {
		got = append(got, c.Digest)
	}
	return got, added, looked, nil
}

// fetchEach gets chunks from addr one request each, the way nodes did
// before /peer/fetch: during a rolling upgrade, an older peer knows only
// that. Its results are fetchBatch's.
func (n *Node) fetchEach(ctx context.Context, addr string, digests []chunk.Digest) (got []chunk.Digest, added, looked int, err error) {
	for _, d := range digests {
		b, err := n.peers.Chunk(ctx, addr, d)
		if errors.Is(err, cas.ErrNotFound) {
			continue
		}
		if err != nil {
			return got, added, 0, err
		}
		ok, err := n.store.PutStored(ctx, d, b)
		if errors.Is(err, cas.ErrDigestMismatch) {
			continue // a bad copy: the next peer may have a good one
		}
		if err != nil {
			return got, added, 0, err
		}
		got = append(got, d)
		if ok {
			added++
		}
	}
	return got, added, len(digests), nil
}
