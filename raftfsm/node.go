package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// Defaults for Config fields left zero.
const (
	DefaultApplyTimeout      = 30 * time.Second
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 2 * time.Minute
	DefaultTrailingLogs      = 10240
	// DefaultMaxBatch is how many entries one write of the Raft log, one
	// append to a follower and one state transaction carry at most.
	DefaultMaxBatch = 256
)

// Config configures a Node. Zero values take the defaults laid over
// raft.DefaultConfig.
type Config struct {
	// Dir holds the Raft log (raft/), snapshots (snapshots/) and the
	// state (fsm/).
	Dir string
	// ID names this node in the cluster; Addr is the Raft address other
	// nodes reach it at.
	ID   string
	Addr string
	// Transport carries Raft traffic (tests use raft's in-memory one).
	// When nil, a network transport is built over StreamLayer, or over
	// TCP listening on Addr.
	Transport   raft.Transport
	StreamLayer StreamLayer
	// Bootstrap lists the initial members. A node with no Raft state and a
	// non-empty Bootstrap forms a new cluster; a node with state ignores it.
	Bootstrap []Member

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// ApplyTimeout bounds Apply when its context has no deadline.
	ApplyTimeout time.Duration
	// MaxBatch bounds how many entries concurrent Applies share: the
	// leader writes (and syncs) the proposals waiting for it as one batch
	// of the log, sends followers up to MaxBatch entries an append, and
	// the state applies a batch of committed entries in one transaction.
	// 1 turns the sharing off, but for Raft's own group commit, which
	// still takes a second proposal when one waits (for measurements).
	// Zero means DefaultMaxBatch; at most 1024.
	MaxBatch int

	// logSegmentSize, when set, replaces the Raft log's segment size.
	// Entries stay readable until their segment is deleted, whatever the
	// compaction, so tests that need a follower to catch up from a
	// snapshot make segments small.
	logSegmentSize int
	// observeBatch, when set, is told the size of every batch of entries
	// Raft hands the state (tests of batching).
	observeBatch func(entries int)

	Logger *slog.Logger
}

// Node is one member of the Raft group that replicates the state. It is
// safe for concurrent use. The caller must Close it.
type Node struct {
	cfg   Config
	raft  *raft.Raft
	fsm   *fsm
	state *State
	wal   *wal.WAL
	meta  *metadb.BoltMetaDB // the log's meta store, which WAL.Close leaves open
	trans raft.Transport
	log   *slog.Logger
	// stopPacing ends paceSnapshots, which paced runs.
	stopPacing chan struct{}
	paced      sync.WaitGroup
}

// Open starts a node: it opens the state, the log and the snapshots,
// bootstraps a new cluster when asked to and there is no state yet, and
// starts Raft.
func Open(cfg Config) (*Node, error) {
	if cfg.Dir == "" || cfg.ID == "" {
		return nil, errors.New("raftfsm: config needs Dir and ID")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = DefaultApplyTimeout
	}
	log := cfg.Logger.With("component", "raft", "node", cfg.ID)
	n := &Node{cfg: cfg, log: log}
	ok := false
	defer func() {
		if !ok {
			n.closeStores()
		}
	}()
	var err error
	if n.fsm, err = openFSM(filepath.Join(cfg.Dir, "fsm"), log); err != nil {
		return nil, err
	}
	n.fsm.observeBatch = cfg.observeBatch
	n.state = &State{f: n.fsm}
	walDir := filepath.Join(cfg.Dir, "raft")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, err
	}
	n.meta = &metadb.BoltMetaDB{}
	// A segment size of 0 is the default.
	if n.wal, err = wal.Open(walDir, wal.WithMetaStore(n.meta), wal.WithLogger(hclogFor(log)), wal.WithSegmentSize(cfg.logSegmentSize)); err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	hlog := hclogFor(log)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		return nil, fmt.Errorf("open snapshots: %w", err)
	}
	if err := n.catchUpFromSnapshot(snaps); err != nil {
		return nil, err
	}
	if list, err := snaps.List(); err == nil && len(list) > 0 {
		n.fsm.pacing.snapBytes.Store(list[0].Size)
	}
	n.trans = cfg.Transport
	if n.trans == nil {
		if n.trans, err = newTransport(cfg, hlog); err != nil {
			return nil, err
		}
	}
	rc := raftConfig(cfg, hlog)
	if len(cfg.Bootstrap) > 0 {
		has, err := raft.HasExistingState(n.wal, n.wal, snaps)
		if err != nil {
			return nil, err
		}
		if !has {
			var conf raft.Configuration
			for _, m := range cfg.Bootstrap {
				conf.Servers = append(conf.Servers, m.server())
			}
			if err := raft.BootstrapCluster(rc, n.wal, n.wal, snaps, n.trans, conf); err != nil {
				return nil, fmt.Errorf("bootstrap cluster: %w", err)
			}
			log.Info("cluster bootstrapped", "voters", len(cfg.Bootstrap))
		}
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, n.wal, n.wal, snaps, n.trans); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.stopPacing = make(chan struct{})
	n.paced.Go(func() { n.paceSnapshots(rc.SnapshotThreshold, rc.TrailingLogs, n.stopPacing) })
	ok = true
	return n, nil
}

// raftConfig lays cairn's settings over raft.DefaultConfig. The state
// persists itself, so Raft does not restore snapshots into it at start-up;
// it replays only the entries after them, which Apply skips when the state
// already holds them.
func raftConfig(cfg Config, hlog hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	rc.NoSnapshotRestoreOnStart = true
	rc.MaxAppendEntries = DefaultMaxBatch
	if cfg.MaxBatch > 0 {
		rc.MaxAppendEntries = cfg.MaxBatch
	}
	// Proposals queue for the leader's loop instead of each waiting to
	// hand itself over, so that one log write takes all that arrived
	// while the one before was syncing.
	rc.BatchApplyCh = rc.MaxAppendEntries > 1
	rc.SnapshotThreshold = DefaultSnapshotThreshold
	rc.SnapshotInterval = DefaultSnapshotInterval
	rc.TrailingLogs = DefaultTrailingLogs
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&rc.HeartbeatTimeout, cfg.HeartbeatTimeout)
	set(&rc.ElectionTimeout, cfg.ElectionTimeout)
	set(&rc.LeaderLeaseTimeout, cfg.LeaderLeaseTimeout)
	set(&rc.CommitTimeout, cfg.CommitTimeout)
	set(&rc.SnapshotInterval, cfg.SnapshotInterval)
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	return rc
}

func newTransport(cfg Config, hlog hclog.Logger) (raft.Transport, error) {
	if cfg.StreamLayer != nil {
		return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: streamLayer{cfg.StreamLayer}, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog,
		}), nil
	}
	t, err := raft.NewTCPTransportWithLogger(cfg.Addr, nil, 3, 10*time.Second, hlog)
	if err != nil {
		return nil, fmt.Errorf("listen for raft on %s: %w", cfg.Addr, err)
	}
	return t, nil
}

// catchUpFromSnapshot restores the newest snapshot when the persisted
// state is older than it, which only a lost state folder can cause: Raft
// would otherwise replay only the entries after the snapshot.
func (n *Node) catchUpFromSnapshot(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	applied, _ := n.fsm.Applied()
	if list[0].Index <= applied {
		return nil
	}
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", list[0].ID, err)
	}
	// Raft's index counts entries the state never sees (no-ops,
	// barriers, and the gap a restored backup leaves): the state is
	// behind only when it lacks an entry the snapshot holds.
	index, _, hdr, err := readSnapshotHeader(rc)
	if err != nil {
		rc.Close()
		return fmt.Errorf("open snapshot %s: %w", list[0].ID, err)
	}
	if index <= applied {
		return rc.Close()
	}
	n.log.Warn("state is behind the newest snapshot; restoring it", "state", applied, "snapshot", index)
	return n.fsm.Restore(struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(hdr), rc), rc})
}

// hclogFor bridges Raft's hclog to slog.
func hclogFor(l *slog.Logger) hclog.Logger {
	return hclog.FromStandardLogger(slog.NewLogLogger(l.Handler(), slog.LevelInfo), &hclog.LoggerOptions{
		Name: "raft", Level: hclog.Info,
	})
}

// State returns the query interface of this node's state.
func (n *Node) State() *State { return n.state }

// ID returns the node's ID.
func (n *Node) ID() string { return n.cfg.ID }

// Apply proposes c and waits until it is applied, returning its Result.
// On a follower it returns ErrNotLeader without proposing. An error that
// wraps ErrUnknownOutcome means the command may or may not have been
// applied; the caller must not report it as not written.
func (n *Node) Apply(ctx context.Context, c Command) (Result, error) {
	b, err := Encode(c)
	if err != nil {
		return Result{}, err
	}
	return n.ApplyEncoded(ctx, b)
}

// ApplyEncoded is Apply for a command already in its wire form, as a
// leader receives it from a follower. The bytes are decoded first, so that
// nothing undecodable reaches the log.
func (n *Node) ApplyEncoded(ctx context.Context, b []byte) (Result, error) {
	if _, err := Decode(b); err != nil {
		return Result{}, err
	}
	if n.raft.State() != raft.Leader {
		return Result{}, ErrNotLeader
	}
	// A context already done proposes nothing: the command surely did not
	// apply (and Raft would take a spent deadline for none at all).
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("propose %v: %w", Op(b[0]), err)
	}
	f := n.raft.Apply(b, n.timeout(ctx))
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			if errors.Is(err, raft.ErrNotLeader) {
				return Result{}, ErrNotLeader
			}
			return Result{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err())
	}
	res, ok := f.Response().(Result)
	if !ok {
		return Result{}, fmt.Errorf("%w: the state machine answered something other than a result", ErrUnknownOutcome)
	}
	if res.Err != nil && errors.Is(res.Err, ErrFailed) {
		return res, res.Err
	}
	return res, nil
}

// WaitApplied waits until this node has applied index.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		applied, ch := n.fsm.waitChan()
		if applied >= index {
			return nil
		}
		if err := n.fsm.err(); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (at %d): %w", index, applied, ctx.Err())
		}
	}
}

// Barrier makes the leader prove its leadership and apply every entry
// committed before the call, so that a read after it sees every write
// acknowledged before it. Followers get ErrNotLeader.
func (n *Node) Barrier(ctx context.Context) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	timeout := n.timeout(ctx)
	if err := n.raft.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return ErrNotLeader
		}
		return err
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return ErrNotLeader
		}
		return err
	}
	return nil
}

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the ID and Raft address of the leader this node knows
// of; both are empty when there is none.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// WaitLeader waits until this node knows of a leader.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := n.Leader(); id != "" {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for a leader: %w", ctx.Err())
		}
	}
}

// Close shuts Raft down and closes the log and the state.
func (n *Node) Close() error {
	var errs []error
	if n.stopPacing != nil {
		close(n.stopPacing)
		n.paced.Wait()
		n.stopPacing = nil
	}
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown().Error())
	}
	if c, ok := n.trans.(interface{ Close() error }); ok && n.cfg.Transport == nil {
		errs = append(errs, c.Close())
	}
	errs = append(errs, n.closeStores())
	return errors.Join(errs...)
}

func (n *Node) closeStores() error {
	var errs []error
	if n.wal != nil {
		errs = append(errs, n.wal.Close())
		n.wal = nil
	}
	if n.meta != nil {
		errs = append(errs, n.meta.Close())
		n.meta = nil
	}
	if n.fsm != nil {
		errs = append(errs, n.fsm.close())
	}
	return errors.Join(errs...)
}

// Backup writes the whole state, consistent at one applied index, to w in
// the snapshot stream format, and returns that index. Applies continue
// meanwhile.
func (n *Node) Backup(w io.Writer) (uint64, error) {
	snap, err := n.fsm.Snapshot()
	if err != nil {
		return 0, err
	}
	s := snap.(*snapshot)
	defer s.Close()
	if err := s.write(w); err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	return s.index, nil
}

// RestoreBackup replaces the state of the whole cluster with a backup
// written by Backup. It runs on the leader, which restores its own state
// and then sends the others a snapshot of it.
func (n *Node) RestoreBackup(ctx context.Context, r io.Reader) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	timeout := n.timeout(ctx)
	// Raft needs the stream's size, and keeps the stream as its newest
	// snapshot even when the state refuses it, to restore at start-up and
	// send to followers: so the backup is spooled and checked first.
	tmp, err := os.CreateTemp(n.cfg.Dir, "backup-*.tmp")
	if err != nil {
		return fmt.Errorf("restore backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, r)
	if err != nil {
		return fmt.Errorf("restore backup: spool: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore backup: %w", err)
	}
	index, _, err := parseSnapshot(tmp, func(k, v []byte) error { return nil })
	if err != nil {
		return fmt.Errorf("restore backup: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore backup: %w", err)
	}
	// Raft restores at an index past both its own last one and
	// meta.Index. It must be past the backup's applied index, which the
	// state takes on: entries at or below it would be skipped as applied.
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: index, Size: size}
	if err := n.raft.Restore(meta, tmp, timeout); err != nil {
		return fmt.Errorf("restore backup: %w", err)
	}
	return nil
}
