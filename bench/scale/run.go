package scale

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Options configure a scale run.
type Options struct {
	Sizes  []int // namespace sizes, ascending, in objects
	Conc   int   // clients of the fill and the concurrent probe
	Probe  int   // objects PUT at Conc, timed, at the end of each fill
	Probe1 int   // objects PUT by one client, timed, after them
	// FillBatch is how many objects the fill commits a request (one Raft
	// entry, POST /v1/commit/<bucket>/); 1 PUTs each on its own. The
	// timed PUTs are always one object a request.
	FillBatch  int
	RunsPerExp int // runs of one experiment
	Sample     int // run folders listed and runs:/ URIs resolved a size
	// Batching is how many objects each batching run PUTs at Conc, on a
	// fresh cluster with raft_max_batch 1 and with the default, Rounds
	// times each, alternating (0 skips it).
	Batching      int
	BatchingRound int
	// MaxLoad is the longest the fill to a size may take, judged from the
	// rate of the fill before it; a size past it is not measured.
	MaxLoad time.Duration
	Bin     string // cairn binary; empty: built from the module
	WorkDir string // empty: a temporary folder, removed at the end
	Keep    bool   // keep WorkDir's data folders
	// HeapDir, if set, receives each node's heap profile at rest at each
	// size (heap-<size>-<node>.pprof), to see what holds its memory.
	HeapDir  string
	Progress io.Writer `json:"-"`
	Command  string    // the command line, for the report
}

const bucket = "mlflow"

// Run measures every size and the batching comparison.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "cairn-scale-")
		if err != nil {
			return nil, err
		}
		o.WorkDir = d
		if !o.Keep {
			defer os.RemoveAll(d)
		}
	}
	say := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, time.Now().Format("15:04:05 ")+format+"\n", args...)
		}
	}
	if o.Bin == "" {
		b, err := buildCairn(ctx, o.WorkDir)
		if err != nil {
			return nil, err
		}
		o.Bin = b
	}
	ns, err := newNamespace(o.RunsPerExp)
	if err != nil {
		return nil, err
	}
	rep := &Report{Machine: machine(), Command: o.Command, Started: time.Now().UTC(), Options: o}
	rep.LoadBefore = loadAvg()
	for round := range o.BatchingRound {
		if o.Batching == 0 {
			break
		}
		order := []int{1, 0}
		if round%2 == 1 {
			order = []int{0, 1}
		}
		for _, mb := range order {
			r, err := batchRun(ctx, o, ns, mb, round)
			if err != nil {
				return rep, fmt.Errorf("batching run (raft_max_batch %d): %w", mb, err)
			}
			say("batching %-7s round %d: %.0f PUTs/s, p50 %.1f ms, p99 %.1f ms, %d errors", r.Mode, round+1, r.Put.PerSec, r.Put.P50, r.Put.P99, r.Put.Errors)
			rep.Batching = append(rep.Batching, r)
		}
	}
	if len(o.Sizes) > 0 {
		if err := o.grow(ctx, ns, rep, say); err != nil {
			return rep, err
		}
	}
	rep.LoadAfter = loadAvg()
	rep.Finished = time.Now().UTC()
	return rep, nil
}

// batchRun fills o.Batching objects at o.Conc on a fresh cluster whose
// raft_max_batch is maxBatch (0: the default).
func batchRun(ctx context.Context, o Options, ns *namespace, maxBatch, round int) (BatchRun, error) {
	mode, extra := "on", []string(nil)
	if maxBatch == 1 {
		mode, extra = "off", []string{"--raft-max-batch", "1"}
	}
	dir := filepath.Join(o.WorkDir, fmt.Sprintf("batching-%s-%d", mode, round))
	c, err := startCluster(ctx, o.Bin, dir, extra, bucket)
	if err != nil {
		return BatchRun{}, err
	}
	defer os.RemoveAll(dir)
	defer c.stop()
	p := newPutter(ns, bucket)
	st, err := p.put(ctx, c.nodes, 0, o.Batching, o.Conc, 1, true)
	return BatchRun{Mode: mode, Round: round + 1, Put: st}, err
}

// fillConc is how many clients fill: Conc, or with batched commits a few
// a node (each holds a whole batch of requests' worth of work).
func (o Options) fillConc() int {
	if o.FillBatch > 1 {
		return min(o.Conc, 6)
	}
	return o.Conc
}

// grow fills one cluster through the sizes and measures each.
func (o Options) grow(ctx context.Context, ns *namespace, rep *Report, say func(string, ...any)) error {
	c, err := startCluster(ctx, o.Bin, filepath.Join(o.WorkDir, "scale"), nil, bucket)
	if err != nil {
		return err
	}
	defer c.stop()
	p := newPutter(ns, bucket)
	have, rate := 0, 0.0
	for _, size := range o.Sizes {
		step := Step{Objects: size}
		fill := size - o.Probe - o.Probe1
		if rate > 0 {
			if eta := time.Duration(float64(size-have) / rate * float64(time.Second)); eta > o.MaxLoad {
				step.NotMeasured = fmt.Sprintf("the fill to %d at the rate measured up to %d (%.0f objects/s) would take about %.0f minutes, past the limit of %.0f",
					size, have, rate, eta.Minutes(), o.MaxLoad.Minutes())
				say("size %d: not measured: %s", size, step.NotMeasured)
				rep.Steps = append(rep.Steps, step)
				continue
			}
		}
		say("size %d: filling %d..%d at c=%d, %d objects a request", size, have, fill, o.fillConc(), max(o.FillBatch, 1))
		p.progress = func(done, total int, r float64) { say("  %d/%d, %.0f objects/s", done, total, r) }
		if step.Fill, err = p.put(ctx, c.nodes, have, fill, o.fillConc(), o.FillBatch, true); err != nil {
			return fmt.Errorf("fill to %d: %w", size, err)
		}
		p.progress = nil
		rate = step.Fill.PerSec
		if step.Put64, err = p.put(ctx, c.nodes, fill, fill+o.Probe, o.Conc, 1, true); err != nil {
			return err
		}
		if step.Put1, err = p.put(ctx, c.nodes, fill+o.Probe, size, 1, 1, true); err != nil {
			return err
		}
		have = size
		say("size %d: filled at %.0f/s; PUT c=%d p50 %.1f p99 %.1f ms, c=1 p50 %.1f p99 %.1f ms", size, rate, o.Conc,
			step.Put64.P50, step.Put64.P99, step.Put1.P50, step.Put1.P99)
		if err := o.measure(ctx, c, ns, &step, say); err != nil {
			return fmt.Errorf("size %d: %w", size, err)
		}
		rep.Steps = append(rep.Steps, step)
	}
	return nil
}

// measure takes every reading of one size on a cluster that holds it.
func (o Options) measure(ctx context.Context, c *cluster, ns *namespace, s *Step, say func(string, ...any)) error {
	runs := s.Objects / filesPerRun
	f, err := c.follower(ctx)
	if err != nil {
		return err
	}
	if s.ListRun, err = listRuns(ctx, f.c, ns, bucket, runs, o.Sample); err != nil {
		return err
	}
	if s.ListExp, err = listExperiment(ctx, f.c, bucket); err != nil {
		return err
	}
	if s.Resolve, err = resolveRuns(ctx, f.c, runs, o.Sample); err != nil {
		return err
	}
	if s.StatsMS, err = statsCall(ctx, f.c); err != nil {
		return err
	}
	say("size %d: list run p50 %.1f ms, experiment %d keys in %d pages %.0f ms, resolve p50 %.1f ms, stats %.0f ms",
		s.Objects, s.ListRun.P50, s.ListExp.Keys, s.ListExp.Pages, s.ListExp.Total, s.Resolve.P50, s.StatsMS)
	// At rest: nothing writes; the compactor and Badger settle, and a
	// Raft snapshot that began meanwhile ends.
	s.RestWait = atRest(ctx, c.nodes)
	for _, n := range c.nodes {
		u := usageOf(n)
		if h, err := metric(ctx, n, "go_memstats_heap_inuse_bytes"); err == nil {
			u.GoHeap = int64(h)
		}
		s.Nodes = append(s.Nodes, u)
		if o.HeapDir != "" {
			if err := heapProfile(ctx, n, filepath.Join(o.HeapDir, fmt.Sprintf("heap-%d-%s.pprof", s.Objects, n.id))); err != nil {
				return err
			}
		}
	}
	l, err := c.leader(ctx)
	if err != nil {
		return err
	}
	if s.Backup, err = takeBackup(ctx, l); err != nil {
		return err
	}
	if s.GC, err = runGC(ctx, l, false); err != nil {
		return err
	}
	if s.FullGC, err = runGC(ctx, l, true); err != nil {
		return err
	}
	say("size %d: backup %.1f MB in %.1f s; gc %.2f s, full gc %.2f s (%d chunks)", s.Objects,
		float64(s.Backup.Bytes)/1e6, s.Backup.Seconds, s.GC.Seconds, s.FullGC.Seconds, s.FullGC.Scanned)
	if s.Restart, err = c.restartFollower(ctx); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	say("size %d: restart of %s: stop %.1f s, ready %.1f s, caught up %.1f s", s.Objects, s.Restart.Node,
		s.Restart.Stop, s.Restart.Ready, s.Restart.CaughtUp)
	if s.CatchUp, err = c.joinFourth(ctx); err != nil {
		return fmt.Errorf("catch-up: %w", err)
	}
	say("size %d: fourth node ready %.1f s, voter %.1f s, chunks %.1f s", s.Objects, s.CatchUp.Ready, s.CatchUp.Voter, s.CatchUp.Chunks)
	return nil
}

// machine describes the host: CPUs, their model, memory, Go.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		mem = strings.Join(strings.Fields(strings.TrimPrefix(l, "MemTotal:")), " ")
	}
	return fmt.Sprintf("%d CPUs (%s), %s memory, %s %s/%s", runtime.NumCPU(), model, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
