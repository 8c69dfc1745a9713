package raftfsm

import (
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var stateObjects = flag.Int("state.objects", 100_000, "objects BenchmarkState_Scale fills the state with")

// BenchmarkState_Scale measures the replicated state alone, in this one
// process, at a namespace of -state.objects objects laid out as the scale
// bench's (cairn-bench scale) MLflow runs: five files a run (an MLmodel of
// its own with its parsed index, and four files every run shares), 2,000
// runs an experiment, one bucket. Entries go to the state machine in
// batches of 256 (Raft's default batch), with no Raft log, no network and
// no chunk store, so the figures are the state's share of a cluster at
// that size: the apply rate, listing one run's folder and a whole
// experiment in pages of 1,000, resolving runs:/, the snapshot's size and
// the time to write and to restore it, the state's disk, and the
// process's resident set after the fill and once idle (after
// ReleaseMemtable, as an idle node does), whole (VmRSS, which counts the
// pages of the state's tables, memory-mapped, that the fill, the snapshot
// and the restore read) and its anonymous part (RssAnon: the heap). It is how 10^7 objects are
// measured here (the cluster bench would take about five hours to fill
// them through the API):
//
//	go test -run '^$' -bench State_Scale -benchtime 1x -timeout 2h ./raftfsm -state.objects 10000000
func BenchmarkState_Scale(b *testing.B) {
	n := *stateObjects
	n -= n % 5
	for b.Loop() {
		dir := b.TempDir()
		h := openTestFSM(b, filepath.Join(dir, "a"))
		h.ok(b, &CreateBucket{Bucket: "mlflow"})
		ns := newStateNamespace()

		start := time.Now()
		const batch = 256
		logs := make([]*raft.Log, 0, batch)
		index := h.next() // the entries are not kept: at 10^7 they would take gigabytes
		for i := 0; i < n; i++ {
			logs = append(logs, entry(b, index, 1, ns.put(i)))
			index++
			if len(logs) == batch || i == n-1 {
				for _, r := range h.f.ApplyBatch(logs) {
					if res := r.(Result); res.Err != nil {
						b.Fatalf("entry %d: %v", res.Index, res.Err)
					}
				}
				logs = logs[:0]
			}
			if i > 0 && i%1_000_000 == 0 {
				b.Logf("%d objects, %.0f/s", i, float64(i)/time.Since(start).Seconds())
			}
		}
		fill := time.Since(start)
		b.ReportMetric(float64(n)/fill.Seconds(), "applied/s")
		if st := mustStats(b, h.s); st.Objects != int64(n) {
			b.Fatalf("%d objects, want %d", st.Objects, n)
		}
		filled, _, anon := memStatus()
		b.ReportMetric(float64(filled)/1e6, "rss-filled-MB")
		b.ReportMetric(float64(anon)/1e6, "anon-filled-MB")

		runs := n / 5
		var lat []time.Duration
		for k := range 200 {
			r := k * (runs / 200)
			t0 := time.Now()
			res, err := h.s.List("mlflow", ListOptions{Prefix: ns.runPrefix(r), Delimiter: "/"})
			lat = append(lat, time.Since(t0))
			if err != nil || len(res.Objects) != 5 {
				b.Fatalf("list run %d: %d objects, %v", r, len(res.Objects), err)
			}
		}
		b.ReportMetric(p50ms(lat), "list-run-p50-ms")

		lat = lat[:0]
		for k := range 200 {
			id := stateRunID(k * (runs / 200))
			t0 := time.Now()
			rs, err := h.s.Run(id)
			lat = append(lat, time.Since(t0))
			if err != nil || len(rs) != 1 {
				b.Fatalf("run %s: %v, %v", id, rs, err)
			}
		}
		b.ReportMetric(p50ms(lat), "resolve-p50-ms")

		// The last experiment of the namespace, whole, in pages of 1,000.
		exp := ns.experiment(runs - 1)
		t0 := time.Now()
		keys, after := 0, ""
		for {
			res, err := h.s.List("mlflow", ListOptions{Prefix: strconv.Itoa(exp) + "/", StartAfter: after, Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			keys += len(res.Objects)
			if !res.Truncated {
				break
			}
			after = res.Next
		}
		b.ReportMetric(ms(time.Since(t0)), "list-exp-ms")
		if want := (runs - (exp-1)*2000) * 5; keys != want {
			b.Fatalf("experiment %d: %d keys, want %d", exp, keys, want)
		}

		// The snapshot in both formats, twice each in the order ABBA so
		// that neither always goes first (the page cache, the disk's
		// write-back): the compressed one (format 2, what a node writes
		// once the cluster has FeatureZstdSnapshot on) carries the plain
		// metric names, format 1 "plain-"; times are the mean of the two.
		formats := []byte{snapZstd, snapPlain, snapPlain, snapZstd}
		metric := func(format byte, what string) string {
			return map[byte]string{snapZstd: what, snapPlain: "plain-" + what}[format]
		}
		snapPath := map[byte]string{}
		took := map[string]float64{}
		for _, format := range formats {
			snapPath[format] = filepath.Join(dir, fmt.Sprint("snapshot", format))
			t0 = time.Now()
			snap, err := h.f.Snapshot()
			if err != nil {
				b.Fatal(err)
			}
			snap.(*snapshot).version = format
			sink, err := newFileSink(snapPath[format])
			if err != nil {
				b.Fatal(err)
			}
			if err := snap.Persist(sink); err != nil {
				b.Fatal(err)
			}
			snap.Release()
			took[metric(format, "snapshot-s")] += time.Since(t0).Seconds() / 2
			fi, err := os.Stat(snapPath[format])
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/1e6, metric(format, "snapshot-MB"))
		}
		b.ReportMetric(float64(dirSize(filepath.Join(dir, "a")))/1e6, "state-MB")

		// Idle, as a node is: the memtable goes, then the free heap.
		if _, err := h.f.releaseMemtable(MemtableRelease, residentNow); err != nil {
			b.Fatal(err)
		}
		debug.FreeOSMemory()
		time.Sleep(time.Second)
		idle, _, anon := memStatus()
		b.ReportMetric(float64(idle)/1e6, "rss-idle-MB")
		b.ReportMetric(float64(anon)/1e6, "anon-idle-MB")

		for i, format := range formats {
			path := filepath.Join(dir, fmt.Sprint("restored", i))
			other := openTestFSM(b, path)
			f, err := os.Open(snapPath[format])
			if err != nil {
				b.Fatal(err)
			}
			t0 = time.Now()
			if err := other.f.Restore(f); err != nil {
				b.Fatal(err)
			}
			took[metric(format, "restore-s")] += time.Since(t0).Seconds() / 2
			f.Close()
			if st := mustStats(b, other.s); st.Objects != int64(n) {
				b.Fatalf("restored %d objects, want %d", st.Objects, n)
			}
			other.f.close()
			os.RemoveAll(path)
		}
		for name, s := range took {
			b.ReportMetric(s, name)
		}
		_, peak := rss()
		b.ReportMetric(float64(peak)/1e6, "rss-peak-MB")
	}
}

// stateNamespace builds the scale bench's commands without its files:
// the same keys, the same sharing, and an MLmodel index as the daemon
// parses it from MLflow's MLmodel of an XGBoost model.
type stateNamespace struct {
	shared map[string]File
}

func newStateNamespace() *stateNamespace {
	ns := &stateNamespace{shared: map[string]File{}}
	for name, size := range map[string]uint32{"conda.yaml": 212, "python_env.yaml": 122, "requirements.txt": 96} {
		ns.shared[name] = fileOf(chunkOf(name, size))
	}
	ns.shared["model.xgb"] = fileOf(chunkOf("model.xgb/0", 52_480), chunkOf("model.xgb/1", 35_512))
	return ns
}

func (ns *stateNamespace) experiment(r int) int { return 1 + r/2000 }

func (ns *stateNamespace) runPrefix(r int) string {
	return fmt.Sprintf("%d/%s/artifacts/model/", ns.experiment(r), stateRunID(r))
}

var stateFiles = []string{"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt", "model.xgb"}

func (ns *stateNamespace) put(i int) *PutObject {
	r, name := i/5, stateFiles[i%5]
	c := &PutObject{Bucket: "mlflow", Key: ns.runPrefix(r) + name, Time: int64(i) * 1e6}
	if name != "MLmodel" {
		c.File = ns.shared[name]
		c.Meta.ETag = etagOf(name)
		return c
	}
	c.File = fileOf(chunkOf("MLmodel/"+strconv.Itoa(r), 563))
	c.Meta.ETag = etagOf(c.File.Digest.String())
	c.Model = &Model{
		RunID: stateRunID(r), ArtifactPath: "model", ModelUUID: stateRunID(r + 1<<40), MLflowVersion: "2.9.2",
		UTCTimeCreated: "2026-11-27 21:43:35.476920", CreatedUnixMilli: 1795815815476,
		Flavors: map[string]map[string]any{
			"python_function": {"data": "model.xgb", "env": map[string]any{"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
				"loader_module": "mlflow.xgboost", "python_version": "3.11.2"},
			"xgboost": {"code": nil, "data": "model.xgb", "model_class": "xgboost.core.Booster", "model_format": "xgb", "xgb_version": "1.7.4"},
		},
		Signature: &Signature{Inputs: `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 20]}}]`},
	}
	return c
}

func stateRunID(r int) string {
	return fmt.Sprintf("%016x%016x", splitmix64(uint64(r)), splitmix64(uint64(r)^0x5ca1ab1e))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func etagOf(s string) string {
	sum := md5.Sum([]byte(s))
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// fileSink is a raft.SnapshotSink writing a file.
type fileSink struct{ *os.File }

func newFileSink(path string) (*fileSink, error) {
	f, err := os.Create(path)
	return &fileSink{f}, err
}

func (s *fileSink) ID() string    { return s.Name() }
func (s *fileSink) Cancel() error { return s.File.Close() }

// Close syncs the file first, as Raft's file snapshots are.
func (s *fileSink) Close() error {
	if err := s.Sync(); err != nil {
		s.File.Close()
		return err
	}
	return s.File.Close()
}

var _ raft.SnapshotSink = (*fileSink)(nil)

// residentNow returns the anonymous part of this process's resident set.
func residentNow() int64 { _, _, anon := memStatus(); return anon }

// rss returns this process's resident set now and at its peak.
func rss() (now, peak int64) { now, peak, _ = memStatus(); return now, peak }

func memStatus() (now, peak, anon int64) {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) != 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			now = kb << 10
		case "VmHWM":
			peak = kb << 10
		case "RssAnon":
			anon = kb << 10
		}
	}
	return now, peak, anon
}

// dirSize is the disk a folder's files take: their blocks, not their
// lengths (Badger preallocates its logs).
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

func p50ms(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return ms(s[len(s)/2])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
