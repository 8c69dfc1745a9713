package load

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"cairn/client/term"
)

// ScaleStep measures the store at one namespace size.
type ScaleStep struct {
	Objects int     `json:"objects"`
	PutP50  float64 `json:"put_p50_ms"`
	PutP99  float64 `json:"put_p99_ms"`
	ListP50 float64 `json:"list_p50_ms"`
	RSS     int64   `json:"peak_rss_bytes"`
}

// TargetReport is everything measured on one target, one entry per round.
type TargetReport struct {
	Name     string           `json:"name"`
	Log      []LogResult      `json:"log"`
	Relog    []LogResult      `json:"relog"`
	New      []LogResult      `json:"ingest_new,omitempty"`  // boosters no store has seen
	Same     []LogResult      `json:"ingest_same,omitempty"` // the same bytes again
	NewGet   []DownloadResult `json:"ingest_get,omitempty"`  // the new boosters read back
	AtRest   []int64          `json:"stored_at_rest_bytes"`  // stored bytes once the log phase settled
	Settle   []float64        `json:"settle_seconds"`        // how long that took
	Download []DownloadResult `json:"download"`
	Commit   []CommitResult   `json:"commit"`
	Scale    []ScaleStep      `json:"scale,omitempty"`
	PeakRSS  int64            `json:"peak_rss_bytes"`
}

// Ratio summarises a metric of one target over the baseline's, round by
// round.
type Ratio struct {
	Metric string  `json:"metric"`
	Target string  `json:"target"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// Report is the result of RunFiles.
type Report struct {
	Spec         Spec           `json:"spec"`
	Runs         int            `json:"runs"`
	Files        int            `json:"files"`
	LogicalBytes int64          `json:"logical_bytes"`
	Ceilings     Ceilings       `json:"ceilings"`
	Targets      []TargetReport `json:"targets"`
	Baseline     string         `json:"baseline"`
	Ratios       []Ratio        `json:"ratios"`
}

// RunFiles generates the workload and measures every target, alternating them
// round by round so that a noisy machine affects all alike.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.WorkDir = d
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	w, err := Generate(o.Spec)
	if err != nil {
		return nil, err
	}
	rep := &Report{Spec: o.Spec, Runs: len(w.Runs), Files: w.Files(), LogicalBytes: w.LogicalBytes()}
	var sample []byte
	for _, r := range w.Runs {
		for _, f := range r.Files {
			sample = append(sample, f.Data...)
		}
		if len(sample) >= 64<<20 {
			break
		}
	}
	if rep.Ceilings, err = MeasureCeilings(sample, o.WorkDir); err != nil {
		return nil, err
	}
	progress("workload: %d runs, %d files, %.1f MB; ceilings: BLAKE3 %.0f MB/s, zstd %.0f MB/s, write+fsync %.0f MB/s",
		rep.Runs, rep.Files, float64(rep.LogicalBytes)/1e6, rep.Ceilings.BLAKE3MBs, rep.Ceilings.ZstdMBs, rep.Ceilings.WriteFsyncMBs)
	reports := make([]TargetReport, len(o.Targets))
	for round := range o.Rounds {
		order := slices.Clone(o.Targets)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, spec := range order {
			i := slices.Index(o.Targets, spec)
			if err := o.round(ctx, spec, w, round, round == o.Rounds-1, &reports[i], progress); err != nil {
				return nil, fmt.Errorf("target %s, round %d: %w", spec, round+1, err)
			}
		}
	}
	rep.Targets = reports
	rep.Baseline = reports[len(reports)-1].Name
	rep.Ratios = ratios(reports)
	return rep, nil
}

// round measures one target once, on a fresh instance.
func (o *Options) round(ctx context.Context, spec string, w *Workload, round int, last bool, tr *TargetReport, progress func(string, ...any)) error {
	inst, err := o.startTarget(ctx, spec)
	if err != nil {
		return err
	}
	defer inst.stop()
	tr.Name = inst.Name()
	label := func(phase string) string { return fmt.Sprintf("round %d %-12s %-7s", round+1, tr.Name, phase) }
	t, done := o.bar(label("log"), "files", w.Files(), inst)
	lr := logRuns(ctx, t, w.Runs, "", o.Clients)
	done()
	if lr.StoredB, _, err = inst.Stored(ctx); err != nil {
		return err
	}
	if d := inst.DataDir(); d != "" {
		lr.DiskB, _ = DiskUsage(d)
	}
	if lr.StoredB > 0 {
		lr.Dedup = float64(lr.Bytes) / float64(lr.StoredB)
	}
	tr.Log = append(tr.Log, lr)
	progress("round %d %-12s log     %7.1f MB/s, sent %.1f of %.1f MB, stored %.1f MB (dedup %.2fx), %d errors",
		round+1, tr.Name, lr.MBs, float64(lr.Sent)/1e6, float64(lr.Bytes)/1e6, float64(lr.StoredB)/1e6, lr.Dedup, lr.Errors)
	rest, took, err := settle(ctx, inst)
	if err != nil {
		return err
	}
	tr.AtRest = append(tr.AtRest, rest)
	tr.Settle = append(tr.Settle, took.Seconds())
	progress("round %d %-12s settle  %7.1f MB stored at rest after %.1f s", round+1, tr.Name, float64(rest)/1e6, took.Seconds())
	t, done = o.bar(label("re-log"), "files", w.Files(), inst)
	rl := logRuns(ctx, t, w.Runs, "", o.Clients)
	done()
	tr.Relog = append(tr.Relog, rl)
	progress("round %d %-12s re-log  %7.2f s, sent %.1f MB", round+1, tr.Name, rl.Seconds, float64(rl.Sent)/1e6)
	if o.Ingest > 0 {
		objs := ingestObjects(w, round, o.Ingest)
		t, done = o.bar(label("ingest"), "files", 2*len(objs), inst)
		fresh, same, get := ingest(ctx, t, objs, o.Clients)
		done()
		tr.New = append(tr.New, fresh)
		tr.Same = append(tr.Same, same)
		tr.NewGet = append(tr.NewGet, get)
		progress("round %d %-12s ingest  %7.1f MB/s new, %7.1f MB/s same bytes again, %7.1f MB/s read back, %d errors, %d mismatches",
			round+1, tr.Name, fresh.MBs, same.MBs, get.MBs, fresh.Errors+same.Errors+get.Errors, get.Mismatch)
	}
	// A sampled run is one listing and a read per file.
	t, done = o.bar(label("get"), "requests", o.Sample*(1+w.Files()/len(w.Runs)), inst)
	dl := download(ctx, t, w.Runs, "", o.Sample, uint64(round))
	done()
	tr.Download = append(tr.Download, dl)
	progress("round %d %-12s get     %7.1f MB/s, list p50 %.1f ms, %d errors, %d mismatches", round+1, tr.Name, dl.MBs, dl.ListP50, dl.Errors, dl.Mismatch)
	t, done = o.bar(label("commits"), "commits", o.Commits, inst)
	cr := commits(ctx, t, "commits/", o.Commits, o.CommitSize, o.CommitClients, uint64(round))
	done()
	tr.Commit = append(tr.Commit, cr)
	progress("round %d %-12s commits %7.0f /s with %d clients, p50 %.1f ms p99 %.1f ms", round+1, tr.Name, cr.PerSec, cr.Clients, cr.P50, cr.P99)
	if last && len(o.Scale) > 0 {
		t, done = o.bar(label("scale"), "requests", slices.Max(o.Scale)+len(o.Scale), inst)
		tr.Scale = scale(ctx, t, o.Scale, o.CommitClients, inst.pid)
		done()
		for _, s := range tr.Scale {
			progress("round %d %-12s scale   %7d objects: put p50 %.1f ms p99 %.1f ms, list p50 %.1f ms, rss %.0f MB",
				round+1, tr.Name, s.Objects, s.PutP50, s.PutP99, s.ListP50, float64(s.RSS)/1e6)
		}
	}
	if inst.pid != 0 {
		tr.PeakRSS = max(tr.PeakRSS, PeakRSS(inst.pid))
	}
	return nil
}

// bar returns t with a progress bar for a phase of about total requests,
// and the function that ends it, when the progress goes to a terminal;
// otherwise t as it is (the line each phase prints is the progress).
func (o *Options) bar(label, unit string, total int, t Target) (Target, func()) {
	if o.Progress == nil || !term.IsTerminal(o.Progress) {
		return t, func() {}
	}
	b := term.NewBar(o.Progress, label, unit, term.Delay)
	b.Grow(int64(total))
	return metered{t, b}, b.Stop
}

// metered counts a target's requests on a progress bar.
type metered struct {
	Target
	bar *term.Bar
}

func (m metered) Put(ctx context.Context, key string, data []byte) (int64, error) {
	defer m.bar.Advance(1)
	return m.Target.Put(ctx, key, data)
}

func (m metered) Get(ctx context.Context, key string) ([]byte, error) {
	defer m.bar.Advance(1)
	return m.Target.Get(ctx, key)
}

func (m metered) List(ctx context.Context, prefix string) ([]string, error) {
	defer m.bar.Advance(1)
	return m.Target.List(ctx, prefix)
}

// scale grows the namespace through the given sizes with 1 KiB objects
// spread over 1,000 folders, measuring writes and a listing at each size.
func scale(ctx context.Context, t Target, sizes []int, clients, pid int) []ScaleStep {
	var out []ScaleStep
	have := 0
	for _, n := range sizes {
		if n > have {
			res := commits(ctx, prefixed{t, "scale/"}, "", n-have, 1<<10, clients, uint64(n))
			have = n
			step := ScaleStep{Objects: n, PutP50: res.P50, PutP99: res.P99, RSS: PeakRSS(pid)}
			var lat Latencies
			for range 5 {
				t0 := time.Now()
				t.List(ctx, "scale/0000")
				lat = append(lat, time.Since(t0))
			}
			step.ListP50 = ms(lat.Percentile(50))
			out = append(out, step)
		}
	}
	return out
}

// prefixed spreads commit keys (zero-padded numbers) over 1,000 folders.
type prefixed struct {
	Target
	prefix string
}

func (p prefixed) Put(ctx context.Context, key string, data []byte) (int64, error) {
	k := key
	if len(k) >= 3 {
		k = k[len(k)-3:] + "/" + k
	}
	return p.Target.Put(ctx, p.prefix+"0"+k, data)
}

// ratios compares each target with the last (the baseline), round by
// round.
func ratios(ts []TargetReport) []Ratio {
	base := ts[len(ts)-1]
	var out []Ratio
	metrics := []struct {
		name string
		get  func(TargetReport, int) float64
	}{
		{"log MB/s", func(t TargetReport, i int) float64 { return t.Log[i].MBs }},
		{"bytes stored", func(t TargetReport, i int) float64 { return float64(t.Log[i].StoredB) }},
		{"bytes sent, re-log", func(t TargetReport, i int) float64 { return float64(t.Relog[i].Sent) }},
		{"re-log seconds", func(t TargetReport, i int) float64 { return t.Relog[i].Seconds }},
		{"download MB/s", func(t TargetReport, i int) float64 { return t.Download[i].MBs }},
		{"small commits/s", func(t TargetReport, i int) float64 { return t.Commit[i].PerSec }},
		{"stored at rest", func(t TargetReport, i int) float64 { return float64(t.AtRest[i]) }},
		{"PUT new bytes MB/s", func(t TargetReport, i int) float64 { return at(t.New, i).MBs }},
		{"PUT same bytes MB/s", func(t TargetReport, i int) float64 { return at(t.Same, i).MBs }},
		{"GET boosters MB/s", func(t TargetReport, i int) float64 {
			if i < len(t.NewGet) {
				return t.NewGet[i].MBs
			}
			return 0
		}},
	}
	for _, t := range ts[:len(ts)-1] {
		for _, m := range metrics {
			var rs []float64
			for i := range min(len(t.Log), len(base.Log)) {
				if b := m.get(base, i); b != 0 {
					rs = append(rs, m.get(t, i)/b)
				}
			}
			if len(rs) == 0 {
				continue
			}
			slices.Sort(rs)
			out = append(out, Ratio{Metric: m.name, Target: t.Name, Min: rs[0], Median: rs[len(rs)/2], Max: rs[len(rs)-1]})
		}
	}
	return out
}

// at returns rs[i], or the zero result when the phase did not run.
func at(rs []LogResult, i int) LogResult {
	if i < len(rs) {
		return rs[i]
	}
	return LogResult{}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Markdown writes the report as Markdown tables.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Workload: seed %d, %d experiments x %d runs, %d distinct %s boosters: %d files, %.1f MB logical.\n\n",
		r.Spec.Seed, r.Spec.Experiments, r.Spec.Runs, r.Spec.Boosters, r.Spec.Size, r.Files, float64(r.LogicalBytes)/1e6)
	fmt.Fprintf(w, "Ceilings, one core, this run: BLAKE3 %.0f MB/s, zstd fastest %.0f MB/s, sequential write + fsync %.0f MB/s.\n\n",
		r.Ceilings.BLAKE3MBs, r.Ceilings.ZstdMBs, r.Ceilings.WriteFsyncMBs)
	fmt.Fprintln(w, "| target | log MB/s | sent MB | stored MB | disk MB | stored / logical | re-log s | re-log sent MB | get MB/s | list p50 ms | small p50/p99 ms | large p50/p99 ms | commits/s | commit p50/p99 ms | peak RSS MB |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, t := range r.Targets {
		col := func(f func(i int) float64) float64 {
			var xs []float64
			for i := range t.Log {
				xs = append(xs, f(i))
			}
			return median(xs)
		}
		stored := col(func(i int) float64 { return float64(t.Log[i].StoredB) })
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f%% | %.2f | %.1f | %.1f | %.1f | %.1f / %.1f | %.1f / %.1f | %.0f | %.1f / %.1f | %.0f |\n",
			t.Name, col(func(i int) float64 { return t.Log[i].MBs }), col(func(i int) float64 { return float64(t.Log[i].Sent) })/1e6,
			stored/1e6, col(func(i int) float64 { return float64(t.Log[i].DiskB) })/1e6, 100*stored/float64(r.LogicalBytes),
			col(func(i int) float64 { return t.Relog[i].Seconds }), col(func(i int) float64 { return float64(t.Relog[i].Sent) })/1e6,
			col(func(i int) float64 { return t.Download[i].MBs }), col(func(i int) float64 { return t.Download[i].ListP50 }),
			col(func(i int) float64 { return t.Log[i].SmallP50 }), col(func(i int) float64 { return t.Log[i].SmallP99 }),
			col(func(i int) float64 { return t.Log[i].LargeP50 }), col(func(i int) float64 { return t.Log[i].LargeP99 }),
			col(func(i int) float64 { return t.Commit[i].PerSec }), col(func(i int) float64 { return t.Commit[i].P50 }),
			col(func(i int) float64 { return t.Commit[i].P99 }), float64(t.PeakRSS)/1e6)
	}
	if len(r.Targets) > 0 && len(r.Targets[0].New) > 0 {
		fmt.Fprintln(w, "\nIngest (boosters new to every store, then the same bytes again, then the new ones read back; medians of rounds):")
		fmt.Fprintln(w, "\n| target | PUT new MB/s | PUT same MB/s | GET MB/s | new p50/p99 ms | same p50/p99 ms | GET p50/p99 ms | stored after log MB | stored at rest MB | settle s |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, t := range r.Targets {
			col := func(f func(i int) float64) float64 {
				var xs []float64
				for i := range t.New {
					xs = append(xs, f(i))
				}
				return median(xs)
			}
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f | %.1f | %.1f |\n", t.Name,
				col(func(i int) float64 { return t.New[i].MBs }), col(func(i int) float64 { return t.Same[i].MBs }),
				col(func(i int) float64 { return t.NewGet[i].MBs }),
				col(func(i int) float64 { return t.New[i].LargeP50 }), col(func(i int) float64 { return t.New[i].LargeP99 }),
				col(func(i int) float64 { return t.Same[i].LargeP50 }), col(func(i int) float64 { return t.Same[i].LargeP99 }),
				col(func(i int) float64 { return t.NewGet[i].FileP50 }), col(func(i int) float64 { return t.NewGet[i].FileP99 }),
				col(func(i int) float64 { return float64(t.Log[i].StoredB) })/1e6, col(func(i int) float64 { return float64(t.AtRest[i]) })/1e6,
				col(func(i int) float64 { return t.Settle[i] }))
		}
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintf(w, "\nRatios to %s, per round (min / median / max over %d rounds):\n\n| target | metric | min | median | max |\n|---|---|---:|---:|---:|\n", r.Baseline, len(r.Targets[0].Log))
		for _, x := range r.Ratios {
			fmt.Fprintf(w, "| %s | %s | %.3f | %.3f | %.3f |\n", x.Target, x.Metric, x.Min, x.Median, x.Max)
		}
	}
	for _, t := range r.Targets {
		if len(t.Scale) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nScale, %s:\n\n| objects | put p50 ms | put p99 ms | list p50 ms | peak RSS MB |\n|---:|---:|---:|---:|---:|\n", t.Name)
		for _, s := range t.Scale {
			fmt.Fprintf(w, "| %d | %.1f | %.1f | %.1f | %.0f |\n", s.Objects, s.PutP50, s.PutP99, s.ListP50, float64(s.RSS)/1e6)
		}
	}
	fmt.Fprintln(w, strings.Repeat("", 0))
}
