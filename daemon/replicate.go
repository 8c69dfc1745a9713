package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"

	"github.com/hashicorp/raft"
)

// peersOf returns the other servers of the cluster, voters first.
func (s *Server) peersOf() (voters, others []raft.Server, err error) {
	f := s.node.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, nil, err
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == s.cfg.NodeID {
			continue
		}
		if srv.Suffrage == raft.Voter {
			voters = append(voters, srv)
		} else {
			others = append(others, srv)
		}
	}
	return voters, others, nil
}

// replicate makes sure that a majority of the voters, this node included,
// hold every chunk of recipe synced to disk, pushing to the peers what
// they lack. It returns once the quorum is reached; pushes to the other
// peers go on in the background for a while, and repair covers the rest.
// When the quorum cannot be reached it returns errQuorum and nothing is
// committed.
func (s *Server) replicate(ctx context.Context, recipe cas.Recipe, pp *prePush) error {
	voters, others, err := s.peersOf()
	if err != nil {
		return err
	}
	if len(voters) == 0 {
		return nil
	}
	// A majority of the len(voters)+1 voters, this node being one.
	need := (len(voters) + 1) / 2
	digests := recipe.Distinct()
	results := make(chan error, len(voters))
	bg, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var wg sync.WaitGroup
	// A peer still taking the early pushes finishes them first, so that
	// when it answers what it lacks it has synced all it took.
	for _, p := range voters {
		wg.Go(func() { pp.waitFor(p.Address); results <- s.pushTo(bg, string(p.Address), digests) })
	}
	for _, p := range others { // non-voters catch up; they are not part of the quorum
		wg.Go(func() { pp.waitFor(p.Address); s.pushTo(bg, string(p.Address), digests) })
	}
	s.bg.Go(func() { wg.Wait(); cancel() })
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
				return fmt.Errorf("%w: %d of %d peers failed: %v", errQuorum, failed, len(voters), errs)
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", errQuorum, ctx.Err())
		}
	}
	return nil
}

// fetchAsk bounds the digests one fetch lists: an answer holds about
// pushBatchBytes of chunks (some 64 of 128 KiB), so a longer list would
// only be sent again and again.
const fetchAsk = 1024

// fetchFromPeers gets the given chunks from whichever peers hold them, in
// batches, each chunk verified against its digest before it is kept.
func (s *Server) fetchFromPeers(ctx context.Context, digests []chunk.Digest) error {
	voters, others, err := s.peersOf()
	if err != nil {
		return err
	}
	want := digests
	var lastErr error = errChunkNotFound
	for _, p := range append(voters, others...) {
		var lacked []chunk.Digest // what this peer does not have, for the next
		for len(want) > 0 {
			ask := want[:min(len(want), fetchAsk)]
			got, added, looked, err := s.fetchBatch(ctx, string(p.Address), ask)
			if errors.Is(err, errNoPeerRoute) {
				got, added, looked, err = s.fetchEach(ctx, string(p.Address), ask)
			}
			if errors.Is(err, cas.ErrNoSpace) {
				return err // this node cannot keep them, from any peer
			}
			if err != nil {
				lastErr = err
				lacked = append(lacked, want...)
				break
			}
			s.metrics.repaired.Add(int64(added))
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
	if len(want) == 0 {
		return nil
	}
	if len(want) > 1 {
		return fmt.Errorf("%w: %s and %d more: %v", errChunkNotFound, want[0].Short(), len(want)-1, lastErr)
	}
	return fmt.Errorf("%w: %s: %v", errChunkNotFound, want[0].Short(), lastErr)
}

// fetchEach gets chunks from addr one request each, the way nodes did
// before POST /peer/fetch: during a rolling upgrade, an older peer knows
// only that. Its results are fetchBatch's.
func (s *Server) fetchEach(ctx context.Context, addr string, digests []chunk.Digest) (got []chunk.Digest, added, looked int, err error) {
	for _, d := range digests {
		var b []byte
		err := s.peers.do(ctx, http.MethodGet, addr, "/peer/chunks/"+d.String(), nil, &b)
		if errors.Is(err, cas.ErrNotFound) {
			continue
		}
		if err != nil {
			return got, added, 0, err
		}
		ok, err := s.store.PutStored(ctx, d, b)
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

// prePush sends the chunks a Put commits to the peers while the rest of
// the file is still being cut and compressed, so that replication overlaps
// the local write instead of following it. It is only a head start:
// replicate still asks every peer what it lacks and decides the quorum.
// It starts with the first full batch, so a file smaller than one batch
// is replicated as before, by replicate alone. A batch that finds a
// peer's queue full is dropped for that peer, and a peer that fails once
// gets nothing more, so a slow or dead peer never holds up the Put.
type prePush struct {
	s       *Server
	ctx     context.Context
	addrs   []raft.ServerAddress // voters, then the others
	peers   []*prePeer           // one sender per address once started
	pending []byte               // encoded chunks not yet queued: batches concatenate
	closed  bool
}

type prePeer struct {
	addr   raft.ServerAddress
	queue  chan []byte // encoded batches
	done   chan struct{}
	failed atomic.Bool
}

// prePushQueue is how many batches wait for each peer.
const prePushQueue = 4

// flushBatchBytes bounds what one batch committed by the store holds
// (cas flushes at 2 MiB, plus one chunk); a larger batch only grows the
// buffer once.
const flushBatchBytes = 3 << 20

// newPrePush returns a prePush to the cluster's other servers, or nil on
// a single node.
func (s *Server) newPrePush(ctx context.Context) *prePush {
	voters, others, err := s.peersOf()
	if err != nil || len(voters)+len(others) == 0 {
		return nil
	}
	pp := &prePush{s: s, ctx: ctx}
	for _, p := range append(voters, others...) {
		pp.addrs = append(pp.addrs, p.Address)
	}
	return pp
}

// start runs one sender per peer.
func (pp *prePush) start() {
	s := pp.s
	for _, addr := range pp.addrs {
		peer := &prePeer{addr: addr, queue: make(chan []byte, prePushQueue), done: make(chan struct{})}
		pp.peers = append(pp.peers, peer)
		go func() {
			defer close(peer.done)
			for body := range peer.queue {
				if peer.failed.Load() {
					continue
				}
				if err := s.peers.do(pp.ctx, http.MethodPost, string(addr), "/peer/chunks", bytes.NewReader(body), nil); err != nil {
					peer.failed.Store(true)
					s.log.Debug("early chunk push failed; replication will catch up", "peer", addr, "err", err)
					continue
				}
				s.metrics.earlyPushed.Add(int64(len(body)))
			}
		}()
	}
}

// committed gathers the chunks the store just committed, and queues them
// for every peer once they make a batch of pushBatchBytes: a peer syncs
// once per batch it takes.
func (pp *prePush) committed(cs []cas.StoredChunk) {
	if pp.pending == nil && pp.peers != nil {
		// The pushes have started, so the file is large: room for a
		// whole push saves growing the buffer. Before that, the buffer
		// grows as it needs, so that a file that never fills a push
		// costs no more than its chunks.
		pp.pending = make([]byte, 0, pushBatchBytes+2*flushBatchBytes)
	}
	pp.pending = appendBatch(pp.pending, cs)
	if len(pp.pending) >= pushBatchBytes {
		if pp.peers == nil {
			pp.start()
		}
		pp.queue()
	}
}

func (pp *prePush) queue() {
	body := pp.pending
	pp.pending = nil
	if len(body) == 0 {
		return
	}
	for _, p := range pp.peers {
		if p.failed.Load() {
			continue
		}
		select {
		case p.queue <- body:
		default: // this peer is behind: replicate will send it what it lacks
			pp.s.metrics.earlyDropped.Add(1)
		}
	}
}

// close queues what is pending, if the senders run, and tells them that
// no more batches come; they finish the ones queued on their own. It may
// be called more than once, and on a nil prePush.
func (pp *prePush) close() {
	if pp == nil || pp.closed {
		return
	}
	pp.closed = true
	if pp.peers != nil {
		pp.queue()
	}
	pp.pending = nil
	for _, p := range pp.peers {
		close(p.queue)
	}
}

// waitFor returns once the sender to addr has finished, so that the peer
// has synced every batch it took; at once for a nil prePush or a peer
// that had none.
func (pp *prePush) waitFor(addr raft.ServerAddress) {
	if pp == nil {
		return
	}
	for _, p := range pp.peers {
		if p.addr == addr {
			<-p.done
		}
	}
}

// storeChunks stores r in this node's chunk store, pushing its new chunks
// to the peers as they are committed (see prePush). The prePush it returns,
// nil on a single node, goes to replicate; its senders are done with the
// queue but may still be sending.
//
// hash, if not nil, is written the content in order (see cas.PutOptions).
func (s *Server) storeChunks(ctx context.Context, r io.Reader, hash io.Writer) (cas.PutResult, *prePush, error) {
	opts := cas.PutOptions{Hash: hash}
	pp := s.newPrePush(ctx)
	if pp == nil {
		res, err := s.store.PutWith(ctx, r, opts)
		return res, nil, err
	}
	defer pp.close()
	opts.Committed = pp.committed
	res, err := s.store.PutWith(ctx, r, opts)
	return res, pp, err
}
