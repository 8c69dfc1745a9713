package raftfsm

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Snapshot pacing. Raft snapshots the state once SnapshotThreshold
// entries have gone by since the last snapshot (it checks every
// SnapshotInterval to twice that). A snapshot writes the whole state, so
// at a fixed threshold what snapshots cost for each entry grows with the
// namespace: at 10^7 objects a snapshot is about 1 GB, 80 s of writing,
// for every 8,192 entries. So a node raises its threshold to the number
// of entries whose bytes add up to its last snapshot's size: the log
// between two snapshots is about one snapshot large, snapshots write
// about as many bytes as the log does whatever the namespace, and the log
// on disk stays near one snapshot's size. The configured threshold stays
// the least for entries of the usual size.
//
// Entries can also be large: a commit of a thousand files is one entry of
// some 250 KB. Counted in entries, the configured threshold and the
// entries Raft keeps after a snapshot (TrailingLogs) would then let the
// log grow to gigabytes before the first snapshot, and a new node would
// replay that much after restoring one. So both come down, for large
// entries, to the entries whose bytes make a snapshot's size or
// minLogBudget, whichever is larger.

// maxPacedThreshold bounds a paced threshold: the entries a lagging
// follower or a restart may have to replay.
const maxPacedThreshold = 1 << 22

// minLogBudget is the log that a node keeps between two snapshots, and
// after one, however small the snapshot: the entries that make it bring
// the thresholds down only when entries are large.
const minLogBudget = 64 << 20

// minPacedEntries bounds the thresholds from below.
const minPacedEntries = 16

// pacingInterval is how often a node looks at its threshold again besides
// after each snapshot.
const pacingInterval = 30 * time.Second

// pacing is what a node measures to pace its snapshots.
type pacing struct {
	logBytes   atomic.Int64  // the Data of the command entries applied
	logEntries atomic.Int64  // and their number
	snapBytes  atomic.Int64  // the size of the last snapshot written or found
	done       chan struct{} // a snapshot was written (nil: nobody listens)
}

// applied counts the command entries of a batch.
func (p *pacing) applied(logs []*raft.Log) {
	var n, b int64
	for _, l := range logs {
		if l.Type == raft.LogCommand {
			n++
			b += int64(len(l.Data))
		}
	}
	p.logEntries.Add(n)
	p.logBytes.Add(b)
}

// snapshotted records the size of a snapshot just written.
func (p *pacing) snapshotted(size int64) {
	p.snapBytes.Store(size)
	select {
	case p.done <- struct{}{}:
	default:
	}
}

// pacedThreshold returns the snapshot threshold for a last snapshot of
// snapBytes when entries average logBytes/logEntries: as many entries as
// make a snapshot's bytes, at least floor, unless entries are so large
// that fewer make the larger of a snapshot and minLogBudget.
func pacedThreshold(floor uint64, snapBytes, logBytes, logEntries int64) uint64 {
	if logBytes <= 0 || logEntries <= 0 {
		return floor
	}
	avg := max(logBytes/logEntries, 1)
	want := floor
	if snapBytes > 0 {
		want = max(floor, min(uint64(snapBytes/avg), maxPacedThreshold))
	}
	return max(min(want, logBudget(snapBytes, avg)), minPacedEntries)
}

// pacedTrailing returns the entries Raft keeps after a snapshot:
// configured, or fewer when that many average entries make more than the
// larger of a snapshot and minLogBudget.
func pacedTrailing(configured uint64, snapBytes, logBytes, logEntries int64) uint64 {
	if logBytes <= 0 || logEntries <= 0 {
		return configured
	}
	avg := max(logBytes/logEntries, 1)
	return max(min(configured, logBudget(snapBytes, avg)), minPacedEntries)
}

// logBudget is how many entries of avg bytes make the larger of a snapshot
// of snapBytes and minLogBudget.
func logBudget(snapBytes, avg int64) uint64 {
	return uint64(max(snapBytes, minLogBudget) / avg)
}

// paceSnapshots keeps the node's snapshot threshold paced until stop is
// closed.
func (n *Node) paceSnapshots(floor, trailing uint64, stop <-chan struct{}) {
	t := time.NewTicker(pacingInterval)
	defer t.Stop()
	p := &n.fsm.pacing
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-p.done:
		}
		snap, logBytes, entries := p.snapBytes.Load(), p.logBytes.Load(), p.logEntries.Load()
		th, tr := pacedThreshold(floor, snap, logBytes, entries), pacedTrailing(trailing, snap, logBytes, entries)
		rc := n.raft.ReloadableConfig()
		// Moves of under an eighth are not worth a reload (and a line of log).
		if !moved(rc.SnapshotThreshold, th) && !moved(rc.TrailingLogs, tr) {
			continue
		}
		rc.SnapshotThreshold, rc.TrailingLogs = th, tr
		if err := n.raft.ReloadConfig(rc); err != nil {
			n.log.Warn("pace snapshots", "err", err)
			continue
		}
		n.log.Info("snapshot threshold paced", "entries", th, "trailing_entries", tr, "last_snapshot_bytes", snap)
	}
}

// moved reports whether want differs from cur by more than an eighth.
func moved(cur, want uint64) bool {
	return max(want, cur)-min(want, cur) > cur/8
}
