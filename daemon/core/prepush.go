package core

import (
	"context"
	"sync/atomic"

	"cairn/cas"
	"cairn/daemon/cluster"
)

// prePush sends the chunks a Put commits to the peers while the rest of
// the file is still being cut and compressed, so that replication overlaps
// the local write instead of following it. It is only a head start:
// replicate still asks every peer what it lacks and decides the quorum.
// It starts with the first full batch, so a file smaller than one batch
// is replicated as before, by replicate alone. A batch that finds a
// peer's queue full is dropped for that peer, and a peer that fails once
// gets nothing more, so a slow or dead peer never holds up the Put.
type prePush struct {
	n       *Node
	ctx     context.Context
	addrs   []string   // voters, then the others
	peers   []*prePeer // one sender per address once started
	pending []byte     // encoded chunks not yet queued: batches concatenate
	closed  bool
}

type prePeer struct {
	addr   string
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
func newPrePush(ctx context.Context, n *Node) *prePush {
	voters, others, err := n.Others()
	if err != nil || len(voters)+len(others) == 0 {
		return nil
	}
	pp := &prePush{n: n, ctx: ctx}
	for _, p := range append(voters, others...) {
		pp.addrs = append(pp.addrs, p.Addr)
	}
	return pp
}

// start runs one sender per peer.
func (pp *prePush) start() {
	n := pp.n
	for _, addr := range pp.addrs {
		peer := &prePeer{addr: addr, queue: make(chan []byte, prePushQueue), done: make(chan struct{})}
		pp.peers = append(pp.peers, peer)
		go func() {
			defer close(peer.done)
			for body := range peer.queue {
				if peer.failed.Load() {
					continue
				}
				if err := n.peers.Push(pp.ctx, addr, body); err != nil {
					peer.failed.Store(true)
					n.log.Debug("early chunk push failed; replication will catch up", "peer", addr, "err", err)
					continue
				}
				n.metrics.EarlyPushed.Add(int64(len(body)))
			}
		}()
	}
}

// committed gathers the chunks the store just committed, and queues them
// for every peer once they make a batch of cluster.BatchBytes: a peer
// syncs once per batch it takes.
func (pp *prePush) committed(cs []cas.StoredChunk) {
	if pp.pending == nil && pp.peers != nil {
		// The pushes have started, so the file is large: room for a
		// whole push saves growing the buffer. Before that, the buffer
		// grows as it needs, so that a file that never fills a push
		// costs no more than its chunks.
		pp.pending = make([]byte, 0, cluster.BatchBytes+2*flushBatchBytes)
	}
	pp.pending = cluster.AppendBatch(pp.pending, cs)
	if len(pp.pending) >= cluster.BatchBytes {
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
			pp.n.metrics.EarlyDropped.Add(1)
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
func (pp *prePush) waitFor(addr string) {
	if pp == nil {
		return
	}
	for _, p := range pp.peers {
		if p.addr == addr {
			<-p.done
		}
	}
}
