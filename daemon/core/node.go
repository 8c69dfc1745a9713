package core

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"cairn/cas"
	"cairn/daemon/cluster"
	"cairn/daemon/internal/metrics"
	"cairn/daemon/tier"
	"cairn/raftfsm"
)

// Config wires a Node to the parts of its process. Every field is
// required but Now and Logger.
type Config struct {
	ID    string // this node's ID in the cluster
	Addr  string // this node's cluster address
	Store *cas.Store
	Raft  *raftfsm.Node
	Peers *cluster.Client
	// MaxObjectSize bounds one object, whatever the surface.
	MaxObjectSize int64
	// MaxUploads bounds the bodies StoreContent stores at once (0: no
	// bound).
	MaxUploads int
	// UploadMemory bounds the memory those bodies take at once, as the
	// chunk store's PutMemory counts it (0: no bound); a body waits up to
	// UploadWait for room, then is refused with ErrSlowDown.
	UploadMemory int64
	UploadWait   time.Duration
	Metrics      *metrics.Metrics
	// Tier is the bucket of the cold tier (nil: none).
	Tier *tier.Bucket
	// Now is the clock of the times written into commands (default
	// time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Node stores and reads objects for every surface of one cairn node. It
// is safe for concurrent use. Close stops its background pushes; the
// stores it was given stay open, for their owner to close.
type Node struct {
	cfg     Config
	store   *cas.Store
	raft    *raftfsm.Node
	peers   *cluster.Client
	metrics *metrics.Metrics
	log     *slog.Logger
	uploads chan struct{} // one token per body being stored
	window  *window       // the memory of the bodies being stored
	cold    *coldTier     // nil without a cold tier
	bg      *background   // pushes that go on after a write returned
	etags   *ETags
	closed  atomic.Bool
}

// New returns a Node over the given stores.
func New(cfg Config) *Node {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, store: cfg.Store, raft: cfg.Raft, peers: cfg.Peers, metrics: cfg.Metrics, log: cfg.Logger}
	n.bg = newBackground()
	n.etags = newETags(n)
	if cfg.Tier != nil {
		n.cold = &coldTier{bucket: cfg.Tier, store: cfg.Store, metrics: cfg.Metrics, log: cfg.Logger}
	}
	if cfg.MaxUploads > 0 {
		n.uploads = make(chan struct{}, cfg.MaxUploads)
	}
	if cfg.UploadMemory > 0 {
		n.window = newWindow(cfg.UploadMemory)
		if n.cfg.UploadWait <= 0 {
			n.cfg.UploadWait = 30 * time.Second
		}
	}
	return n
}

// Close makes writes fail with ErrShuttingDown, stops the pushes still
// going on in the background and waits for them. It is safe to call more
// than once.
func (n *Node) Close() {
	n.closed.Store(true)
	n.bg.close()
}

// background runs work that goes on after the request that started it,
// until close, which cancels its context and waits for it.
type background struct {
	ctx  context.Context
	stop context.CancelFunc
	mu   sync.Mutex // orders run against close: wg must not grow while close waits on it
	done bool
	wg   sync.WaitGroup
}

func newBackground() *background {
	b := &background{}
	b.ctx, b.stop = context.WithCancel(context.Background())
	return b
}

// run runs f in a goroutine and reports true, or reports false after
// close.
func (b *background) run(f func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return false
	}
	b.wg.Go(f)
	return true
}

func (b *background) close() {
	b.mu.Lock()
	b.done = true
	b.mu.Unlock()
	b.stop()
	b.wg.Wait()
}

// Closing reports whether Close was called.
func (n *Node) Closing() bool { return n.closed.Load() }

// ID returns this node's ID.
func (n *Node) ID() string { return n.cfg.ID }

// State returns the replicated state as this node has applied it.
func (n *Node) State() *raftfsm.State { return n.raft.State() }

// Raft returns the Raft node.
func (n *Node) Raft() *raftfsm.Node { return n.raft }

// Store returns this node's chunk store.
func (n *Node) Store() *cas.Store { return n.store }

// Metrics returns the node's counters.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Now returns the time to write into a command.
func (n *Node) Now() time.Time { return n.cfg.Now() }

// Others returns the other members of the cluster, voters first.
func (n *Node) Others() (voters, others []raftfsm.Member, err error) {
	members, err := n.raft.Members()
	if err != nil {
		return nil, nil, err
	}
	for _, m := range members {
		switch {
		case m.ID == n.cfg.ID:
		case m.Voter:
			voters = append(voters, m)
		default:
			others = append(others, m)
		}
	}
	return voters, others, nil
}
