package raftfsm

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestPacedThreshold(t *testing.T) {
	for _, c := range []struct {
		floor                         uint64
		snap, logBytes, entries, want int64
	}{
		{8192, 0, 0, 0, 8192},                            // nothing measured yet
		{8192, 100 << 20, 0, 0, 8192},                    // a snapshot found at start, no entry since
		{8192, 1 << 20, 500 << 10, 1000, 8192},           // a small state: the floor
		{8192, 96 << 20, 500 << 20, 1 << 20, 201326},     // 96 MB of snapshot, entries of 500 bytes
		{8192, 1 << 30, 300 << 20, 1 << 20, 3579139},     // 1 GiB, entries of 300 bytes
		{8192, 64 << 30, 500 << 20, 1 << 20, 1 << 22},    // bounded
		{1 << 23, 64 << 30, 500 << 20, 1 << 20, 1 << 23}, // a floor over the bound stays
		{16, 5000, 10, 100, 5000},                        // entries under a byte: one byte
		// Commits of many files, entries of 256 KiB: the log between two
		// snapshots holds a snapshot's bytes, or 64 MiB, not 8,192 of them.
		{8192, 0, 256 << 20, 1024, 256},          // no snapshot yet: 64 MiB
		{8192, 400 << 20, 256 << 20, 1024, 1600}, // a snapshot of 400 MiB
		{8192, 0, 64 << 30, 1024, 16},            // entries of 64 MiB: the least
	} {
		if got := pacedThreshold(c.floor, c.snap, c.logBytes, c.entries); got != uint64(c.want) {
			t.Errorf("pacedThreshold(%d, %d, %d, %d) = %d, want %d", c.floor, c.snap, c.logBytes, c.entries, got, c.want)
		}
	}
}

func TestPacedTrailing(t *testing.T) {
	for _, c := range []struct {
		configured                    uint64
		snap, logBytes, entries, want int64
	}{
		{10240, 0, 0, 0, 10240},                      // nothing measured yet
		{10240, 96 << 20, 500 << 20, 1 << 20, 10240}, // entries of 500 bytes: 5 MB kept
		{10240, 0, 256 << 20, 1024, 256},             // entries of 256 KiB: 64 MiB kept
		{10240, 400 << 20, 256 << 20, 1024, 1600},    // or a snapshot's bytes
		{10240, 0, 64 << 30, 1024, 16},               // the least
	} {
		if got := pacedTrailing(c.configured, c.snap, c.logBytes, c.entries); got != uint64(c.want) {
			t.Errorf("pacedTrailing(%d, %d, %d, %d) = %d, want %d", c.configured, c.snap, c.logBytes, c.entries, got, c.want)
		}
	}
}

// TestNode_PacesSnapshots runs a node whose Raft checks every few
// milliseconds whether 16 entries went by since its last snapshot: once it
// has written a snapshot, it raises the threshold to the entries whose
// bytes make that snapshot's size, and Raft takes no snapshot before that
// many went by (it took one after 16 before), and takes one after.
func TestNode_PacesSnapshots(t *testing.T) {
	const floor = 16
	c := newTestClusterWith(t, 1, ClusterOptions{Configure: func(cfg *Config) {
		cfg.SnapshotThreshold, cfg.SnapshotInterval = floor, 10*time.Millisecond
	}})
	n := c.Nodes[0]
	var entries, entryBytes int64
	apply := func(cmd Command) {
		t.Helper()
		b, err := Encode(cmd)
		if err != nil {
			t.Fatal(err)
		}
		entries++
		entryBytes += int64(len(b))
		mustApply(t, n, cmd)
	}
	apply(&CreateBucket{Bucket: "bkt"})
	next := 0
	put := func(k int) {
		t.Helper()
		for range k {
			apply(&PutObject{Bucket: "bkt", Key: fmt.Sprintf("exp/%032d/artifacts/model/MLmodel", next), File: testFile(strconv.Itoa(next))})
			next++
		}
	}
	lastSnapshot := func() uint64 {
		i, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
		return i
	}
	put(300)
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// The threshold the node should pace to, from what this test applied
	// and the newest snapshot on disk.
	meta, rc := newestSnapshot(t, n)
	rc.Close()
	want := uint64(meta.Size / (entryBytes / entries))
	if want < 4*floor {
		t.Fatalf("a snapshot of %d bytes over entries of %d bytes: too small a state to see pacing", meta.Size, entryBytes/entries)
	}
	// The node reloads its threshold when it moves by more than an
	// eighth: a snapshot Raft took during the fill may have set it close.
	deadline := time.Now().Add(5 * time.Second)
	th := n.raft.ReloadableConfig().SnapshotThreshold
	for max(th, want)-min(th, want) > th/8 {
		if time.Now().After(deadline) {
			t.Fatalf("snapshot threshold %d 5 s after a snapshot of %d bytes, want %d", th, meta.Size, want)
		}
		time.Sleep(5 * time.Millisecond)
		th = n.raft.ReloadableConfig().SnapshotThreshold
	}
	want = th

	// Under the paced threshold, no snapshot, though Raft checks often.
	at := lastSnapshot()
	put(int(want) / 2)
	time.Sleep(300 * time.Millisecond)
	if got := lastSnapshot(); got != at {
		t.Fatalf("a snapshot at %d, %d entries after the last (at %d) with the threshold paced to %d", got, got-at, at, want)
	}
	// Past it, one.
	put(int(want)/2 + floor)
	deadline = time.Now().Add(5 * time.Second)
	for lastSnapshot() == at {
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot 5 s after %d entries past the last, with the threshold paced to %d", int(want)+floor, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNode_PacesLargeEntries applies commits of a thousand files, entries
// of a few hundred KB each, to a node with the default thresholds: after
// its next snapshot it brings the snapshot threshold and the entries it
// keeps after a snapshot down from 8,192 and 10,240 to about 64 MiB of
// such entries.
func TestNode_PacesLargeEntries(t *testing.T) {
	c := newTestClusterWith(t, 1, ClusterOptions{})
	n := c.Nodes[0]
	mustApply(t, n, &CreateBucket{Bucket: "bkt"})
	var entryBytes int64
	for e := range 3 {
		cmd := &PutObjects{Bucket: "bkt"}
		for i := range MaxPutObjects {
			cmd.Objects = append(cmd.Objects, PutObject{Bucket: "bkt", Key: fmt.Sprintf("exp/%032d/artifacts/model/conda.yaml", e*MaxPutObjects+i), File: testFile(strconv.Itoa(i))})
		}
		b, err := Encode(cmd)
		if err != nil {
			t.Fatal(err)
		}
		entryBytes += int64(len(b))
		mustApply(t, n, cmd)
	}
	avg := (entryBytes + 40) / 4 // and the bucket's entry
	want := uint64(minLogBudget / avg)
	if want >= DefaultSnapshotThreshold/2 {
		t.Fatalf("entries of %d bytes: too small to see pacing", avg)
	}
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc := n.raft.ReloadableConfig()
		if !moved(want, rc.SnapshotThreshold) && !moved(want, rc.TrailingLogs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threshold %d and trailing entries %d 5 s after a snapshot, entries of %d bytes; want about %d", rc.SnapshotThreshold, rc.TrailingLogs, avg, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
