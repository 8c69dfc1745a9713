package scale

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Step is everything measured at one namespace size.
type Step struct {
	Objects     int    `json:"objects"`
	NotMeasured string `json:"not_measured,omitempty"` // why, when it was not

	Fill    putStats    `json:"fill"`        // the requests that grew the namespace to this size
	Put64   putStats    `json:"put_c64"`     // the last Probe objects at Conc
	Put1    putStats    `json:"put_c1"`      // then Probe1 objects by one client
	ListRun latency     `json:"list_run"`    // one run's model folder (5 keys)
	ListExp listing     `json:"list_exp"`    // one experiment, pages of 1000
	Resolve latency     `json:"resolve_run"` // runs:/<run_id>/model
	StatsMS float64     `json:"stats_ms"`    // GET /v1/stats
	Backup  backup      `json:"backup"`
	GC      gcPass      `json:"gc"`
	FullGC  gcPass      `json:"gc_full"`
	Restart restart     `json:"restart"`
	CatchUp catchUp     `json:"catch_up"`
	Nodes   []nodeUsage `json:"nodes"`
	// RestWait is how long after the last request Nodes was read.
	RestWait float64 `json:"rest_wait_seconds"`
}

// BatchRun is one fill of the batching comparison.
type BatchRun struct {
	Mode  string   `json:"batching"` // "on" (the default) or "off" (raft_max_batch 1)
	Round int      `json:"round"`
	Put   putStats `json:"put"`
}

// Report is the result of Run.
type Report struct {
	Machine    string     `json:"machine"`
	Command    string     `json:"command"`
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished"`
	LoadBefore string     `json:"loadavg_before"`
	LoadAfter  string     `json:"loadavg_after"`
	Options    Options    `json:"options"`
	Batching   []BatchRun `json:"batching,omitempty"`
	Steps      []Step     `json:"steps"`
}

func mb(b int64) string { return fmt.Sprintf("%.1f", float64(b)/1e6) }

// Markdown writes the report as the tables of docs/scaling.md.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s. Load average %s before, %s after. %s to %s.\n\nCommand: `%s`\n",
		r.Machine, r.LoadBefore, r.LoadAfter, r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339), r.Command)
	if len(r.Batching) > 0 {
		fmt.Fprintf(w, "\nRaft batching, %d PUTs at c=%d on a fresh cluster each:\n\n", r.Options.Batching, r.Options.Conc)
		fmt.Fprintln(w, "| batching | round | PUTs/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|")
		for _, b := range r.Batching {
			fmt.Fprintf(w, "| %s | %d | %.0f | %.1f | %.1f | %d |\n", b.Mode, b.Round, b.Put.PerSec, b.Put.P50, b.Put.P99, b.Put.Errors)
		}
	}
	if len(r.Steps) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOne bucket, %d runs an experiment, three nodes:\n\n", r.Options.RunsPerExp)
	head := "| | " + joinSteps(r.Steps, func(s Step) string { return fmt.Sprintf("%d objects", s.Objects) }) + " |"
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, "|---|"+strings.Repeat("---:|", len(r.Steps)))
	row := func(name string, f func(Step) string) {
		fmt.Fprintf(w, "| %s | %s |\n", name, joinSteps(r.Steps, func(s Step) string {
			if s.NotMeasured != "" {
				return "not measured"
			}
			return f(s)
		}))
	}
	c := r.Options.Conc
	fill := fmt.Sprintf("fill rate, c=%d (objects/s)", c)
	if r.Options.FillBatch > 1 {
		fill = fmt.Sprintf("fill rate, c=%d, %d objects a commit (objects/s)", r.Options.fillConc(), r.Options.FillBatch)
	}
	row(fill, func(s Step) string { return fmt.Sprintf("%.0f", s.Fill.PerSec) })
	row("fill: p50 / p99 ms a request", func(s Step) string { return fmt.Sprintf("%.1f / %.1f", s.Fill.P50, s.Fill.P99) })
	row(fmt.Sprintf("PUT c=%d: p50 / p99 ms (objects/s)", c), func(s Step) string {
		return fmt.Sprintf("%.1f / %.1f (%.0f)", s.Put64.P50, s.Put64.P99, s.Put64.PerSec)
	})
	row("PUT c=1: p50 / p99 ms (objects/s)", func(s Step) string {
		return fmt.Sprintf("%.1f / %.1f (%.0f)", s.Put1.P50, s.Put1.P99, s.Put1.PerSec)
	})
	row("list one run folder: p50 / p99 ms", func(s Step) string { return fmt.Sprintf("%.1f / %.1f", s.ListRun.P50, s.ListRun.P99) })
	row("list one experiment: keys, pages", func(s Step) string { return fmt.Sprintf("%d, %d", s.ListExp.Keys, s.ListExp.Pages) })
	row("list one experiment: page p50 / max, total ms", func(s Step) string {
		return fmt.Sprintf("%.1f / %.1f, %.0f", s.ListExp.PageP50, s.ListExp.PageMax, s.ListExp.Total)
	})
	row("resolve runs:/<id>/model: p50 / p99 ms", func(s Step) string { return fmt.Sprintf("%.1f / %.1f", s.Resolve.P50, s.Resolve.P99) })
	row("GET /v1/stats ms", func(s Step) string { return fmt.Sprintf("%.0f", s.StatsMS) })
	row("admin backup (state snapshot): MB, s", func(s Step) string { return fmt.Sprintf("%s, %.1f", mb(s.Backup.Bytes), s.Backup.Seconds) })
	row("GC pass, incremental: s (entries)", func(s Step) string { return fmt.Sprintf("%.2f (%d)", s.GC.Seconds, s.GC.Scanned) })
	row("GC pass, full: s (chunks)", func(s Step) string { return fmt.Sprintf("%.2f (%d)", s.FullGC.Seconds, s.FullGC.Scanned) })
	row("restart of a follower: stop / ready / caught up s", func(s Step) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f", s.Restart.Stop, s.Restart.Ready, s.Restart.CaughtUp)
	})
	row("4th node: ready / voter, no lag / all chunks s", func(s Step) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f", s.CatchUp.Ready, s.CatchUp.Voter, s.CatchUp.Chunks)
	})
	row("at rest: read after s", func(s Step) string { return fmt.Sprintf("%.0f", s.RestWait) })
	for i := range 3 {
		row(fmt.Sprintf("n%d: RSS at rest / peak MB", i+1), func(s Step) string {
			if i >= len(s.Nodes) {
				return ""
			}
			return fmt.Sprintf("%s / %s", mb(s.Nodes[i].RSS), mb(s.Nodes[i].PeakRSS))
		})
	}
	for i := range 3 {
		row(fmt.Sprintf("n%d: RSS at rest: anonymous / file-backed, Go heap in use MB", i+1), func(s Step) string {
			if i >= len(s.Nodes) {
				return ""
			}
			return fmt.Sprintf("%s / %s, %s", mb(s.Nodes[i].RSSAnon), mb(s.Nodes[i].RSSFile), mb(s.Nodes[i].GoHeap))
		})
	}
	for i := range 3 {
		row(fmt.Sprintf("n%d disk MB: Raft log / snapshots / state / chunks (total)", i+1), func(s Step) string {
			if i >= len(s.Nodes) {
				return ""
			}
			u := s.Nodes[i]
			return fmt.Sprintf("%s / %s / %s / %s (%s)", mb(u.RaftLog), mb(u.Snapshots), mb(u.State), mb(u.Chunks), mb(u.Total))
		})
	}
	row("4th node disk MB: Raft log / snapshots / state / chunks", func(s Step) string {
		u := s.CatchUp.Usage
		return fmt.Sprintf("%s / %s / %s / %s", mb(u.RaftLog), mb(u.Snapshots), mb(u.State), mb(u.Chunks))
	})
	for _, s := range r.Steps {
		if s.NotMeasured != "" {
			fmt.Fprintf(w, "\n%d objects: not measured: %s.\n", s.Objects, s.NotMeasured)
		}
	}
}

func joinSteps(steps []Step, f func(Step) string) string {
	var out []string
	for _, s := range steps {
		out = append(out, f(s))
	}
	return strings.Join(out, " | ")
}
