package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"cairn/client"
	"cairn/client/term"
)

func adminCommand() *command {
	return &command{
		name: "admin", minArgs: 1, maxArgs: 1,
		synopsis: "gc [--full] | scrub | reclaim | tier | status",
		summary:  "run garbage collection, a scrub, a space reclaim or a cold tier pass; show the cluster's health",
		detail: `gc, scrub and reclaim work on one node: the one the client reaches (the first
endpoint that answers), or every endpoint in turn with --all. gc runs one
garbage-collection pass (--full walks every local chunk, to find those no
file ever referenced); scrub verifies every local chunk and replaces corrupt
ones from peers; reclaim gives back the disk space of deleted chunks at once;
tier runs a pass of the cold tier (on the leader it copies chunks unread for
tier_after to the tier's bucket; every node drops its copies of them).
status shows the leader, each node's lag and missing chunks, and what the
store holds. All but status need an admin key.`,
		example: `cairn admin gc --full --all
cairn admin scrub --json
cairn admin status`,
		flags: func(fs *flag.FlagSet) action {
			full := fs.Bool("full", false, "gc: walk every local chunk, not only those whose last reference went")
			all := fs.Bool("all", false, "run on every configured endpoint in turn, not only the first that answers")
			return func(ctx context.Context, s *session, args []string) error {
				switch args[0] {
				case "gc":
					return s.upkeep(ctx, "gc", *all, func(ctx context.Context, a *client.Admin) (any, error) {
						return a.GC(ctx, client.GCOptions{Full: *full})
					})
				case "scrub":
					return s.upkeep(ctx, "scrub", *all, func(ctx context.Context, a *client.Admin) (any, error) { return a.Scrub(ctx) })
				case "reclaim":
					return s.upkeep(ctx, "reclaim", *all, func(ctx context.Context, a *client.Admin) (any, error) { return a.Reclaim(ctx) })
				case "tier":
					return s.upkeep(ctx, "tier", *all, func(ctx context.Context, a *client.Admin) (any, error) { return a.Tier(ctx) })
				case "status":
					return s.adminStatus(ctx)
				}
				return usagef("admin: want gc, scrub, reclaim, tier or status, not %q", args[0])
			}
		},
	}
}

// nodeRun is one node's answer to an upkeep command run with --all.
type nodeRun struct {
	Endpoint string `json:"endpoint"`
	Result   any    `json:"result,omitempty"`
	Error    string `json:"error,omitempty"`
}

// upkeep runs op on the node the client reaches, or with all on every
// endpoint in turn (each alone, without failover), counting nodes on a
// progress bar; with all, a node that fails does not stop the others,
// and the command fails at the end.
func (s *session) upkeep(ctx context.Context, name string, all bool, op func(context.Context, *client.Admin) (any, error)) error {
	if !all {
		stop := s.spinner(name)
		res, err := op(ctx, s.c.Admin())
		stop()
		if err != nil {
			return err
		}
		s.emit(res, func(w io.Writer) { printUpkeep(w, "", res) })
		return nil
	}
	var runs []nodeRun
	var bar *term.Bar
	if !s.global.noProgress && term.IsTerminal(s.env.Stderr) {
		bar = term.NewBar(s.env.Stderr, name, "nodes", term.Delay)
		bar.Grow(int64(len(s.cfg.Endpoints)))
	}
	failed := 0
	for _, ep := range s.c.Endpoints() {
		cfg := s.cfg
		cfg.Endpoints = []string{ep}
		c, err := client.New(cfg)
		if err != nil {
			return usagef("%v", err)
		}
		res, err := op(ctx, c.Admin())
		c.CloseIdleConnections()
		r := nodeRun{Endpoint: ep, Result: res}
		if err != nil {
			r.Result, r.Error = nil, err.Error()
			failed++
		}
		runs = append(runs, r)
		if bar != nil {
			bar.Advance(1)
		}
	}
	if bar != nil {
		bar.Stop()
	}
	s.emit(runs, func(w io.Writer) {
		for _, r := range runs {
			if r.Error != "" {
				fmt.Fprintf(w, "%s: %s\n", r.Endpoint, r.Error)
				continue
			}
			printUpkeep(w, r.Endpoint+": ", r.Result)
		}
	})
	if failed > 0 {
		return fmt.Errorf("admin %s: failed on %d of %d nodes", name, failed, len(runs))
	}
	return nil
}

// spinner shows that a single long call is running: a bar of one step
// that counts time, on a terminal only.
func (s *session) spinner(label string) func() {
	if s.global.noProgress || !term.IsTerminal(s.env.Stderr) {
		return func() {}
	}
	b := term.NewBar(s.env.Stderr, label, "nodes", term.Delay)
	b.Grow(1)
	return func() { b.Advance(1); b.Stop() }
}

func printUpkeep(w io.Writer, prefix string, res any) {
	switch r := res.(type) {
	case client.GCResult:
		kind := "gc"
		if r.Full {
			kind = "full gc"
		}
		fmt.Fprintf(w, "%s%s: scanned %d, deleted %d of %d unreferenced chunks (%s freed), %d kept for the grace period, %d pruned, backlog %d, %.1fs\n",
			prefix, kind, r.Scanned, r.Deleted, r.Candidates, humanBytes(r.FreedBytes), r.Kept, r.Pruned, r.Backlog, r.Seconds)
	case client.ScrubResult:
		fmt.Fprintf(w, "%sscrub: %d chunks (%s) verified, %d corrupt, %d repaired\n", prefix, r.Chunks, humanBytes(r.Bytes), r.Corrupt, r.Repaired)
		for _, d := range r.Lost {
			fmt.Fprintf(w, "%slost: chunk %s is corrupt here and on no peer\n", prefix, d)
		}
	case client.TierResult:
		fmt.Fprintf(w, "%stier: %d cold chunks; %d copied to the bucket (%s), %d dropped here (%s); %d doomed, %d forgotten and deleted; %.1fs\n",
			prefix, r.Cold, r.Copied, humanBytes(r.CopiedBytes), r.Evicted, humanBytes(r.EvictedBytes), r.Doomed, r.Deleted, r.Seconds)
	case client.ReclaimResult:
		fmt.Fprintf(w, "%sreclaim: %d files rewritten, %s on disk before, %s after, %s\n",
			prefix, r.Rewritten, humanBytes(r.Before), humanBytes(r.After), time.Duration(r.Took).Round(time.Millisecond))
	}
}

// adminStatus is what admin status prints: the cluster and the store.
type adminStatus struct {
	Cluster client.ClusterStatus `json:"cluster"`
	Stats   client.Stats         `json:"stats"`
}

func (s *session) adminStatus(ctx context.Context) error {
	st, err := s.c.Admin().ClusterStatus(ctx)
	if err != nil {
		return err
	}
	stats, err := s.c.Stats(ctx, 0)
	if err != nil {
		return err
	}
	out := adminStatus{Cluster: st, Stats: stats}
	s.emit(out, func(w io.Writer) {
		leader := st.Leader
		if leader == "" {
			leader = "none: the cluster takes no writes"
		}
		fmt.Fprintf(w, "leader: %s\n", leader)
		tw := table(w)
		fmt.Fprintln(tw, "ID\tROLE\tSUFFRAGE\tAPPLIED\tLAG\tMISSING\tERROR")
		for _, n := range st.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d (%s)\t%s\n", n.ID, n.Role, n.Suffrage, n.Applied, n.Lag, n.MissingCount, humanBytes(n.MissingBytes), n.Error)
		}
		tw.Flush()
		fmt.Fprintf(w, "objects: %d, %s logical, %s live chunks (dedup %.2fx), %s stored here, %s garbage awaiting GC\n",
			stats.Objects, humanBytes(stats.LogicalBytes), humanBytes(stats.UniqueBytes), stats.DedupRatio,
			humanBytes(stats.StoredBytes), humanBytes(stats.GarbageBytes))
	})
	return nil
}
