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
// the least.

// maxPacedThreshold bounds a paced threshold: the entries a lagging
// follower or a restart may have to replay.
const maxPacedThreshold = 1 << 22

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
// make a snapshot's bytes, at least floor.
func pacedThreshold(floor uint64, snapBytes, logBytes, logEntries int64) uint64 {
	if snapBytes <= 0 || logBytes <= 0 || logEntries <= 0 {
		return floor
	}
	avg := max(logBytes/logEntries, 1)
	return max(floor, min(uint64(snapBytes/avg), maxPacedThreshold))
}

// paceSnapshots keeps the node's snapshot threshold paced until stop is
// closed.
func (n *Node) paceSnapshots(floor uint64, stop <-chan struct{}) {
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
		want := pacedThreshold(floor, p.snapBytes.Load(), p.logBytes.Load(), p.logEntries.Load())
		rc := n.raft.ReloadableConfig()
		// Moves of under an eighth are not worth a reload (and a line of log).
		if diff := max(want, rc.SnapshotThreshold) - min(want, rc.SnapshotThreshold); diff <= rc.SnapshotThreshold/8 {
			continue
		}
		rc.SnapshotThreshold = want
		if err := n.raft.ReloadConfig(rc); err != nil {
			n.log.Warn("pace snapshots", "err", err)
			continue
		}
		n.log.Info("snapshot threshold paced", "entries", want, "last_snapshot_bytes", p.snapBytes.Load())
	}
}
