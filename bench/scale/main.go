package scale

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Main runs `cairn-bench scale`: flags in args, the Markdown report on
// stdout, progress on stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "100000,1000000,10000000", "namespace sizes in objects, ascending, comma-separated; empty for none")
	conc := fs.Int("c", 64, "concurrent clients of the fill and of the timed PUTs")
	probe := fs.Int("probe", 5000, "objects PUT at -c, timed, at the end of each fill")
	probe1 := fs.Int("probe1", 500, "objects PUT by one client, timed, after them")
	fillBatch := fs.Int("fill-batch", 1, "objects the fill commits a request, in one Raft entry (1: a PUT each); the timed PUTs are one a request")
	runsPerExp := fs.Int("runs-per-experiment", 2000, "runs of one experiment (5 objects each)")
	sample := fs.Int("sample", 200, "run folders listed and runs:/ URIs resolved at each size")
	batching := fs.Int("batching", 20000, "objects each run of the batching comparison PUTs at -c (0 skips it)")
	rounds := fs.Int("batching-rounds", 2, "runs of the batching comparison with batching off and on, alternating")
	maxLoad := fs.Duration("max-load", 40*time.Minute, "longest a fill to a size may take, judged from the rate of the fill before; larger sizes are reported as not measured")
	bin := fs.String("cairn-bin", os.Getenv("CAIRN_BIN"), "cairn binary to run; default: go build ./cmd/cairn of this module")
	work := fs.String("workdir", "", "folder for the nodes' data (default: a temporary one, removed at the end)")
	keep := fs.Bool("keep", false, "keep the nodes' data folders")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	heapDir := fs.String("heap-dir", "", "write each node's heap profile at rest at each size to this folder (go tool pprof reads them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := Options{Conc: *conc, Probe: *probe, Probe1: *probe1, RunsPerExp: *runsPerExp, Sample: *sample,
		FillBatch: *fillBatch, Batching: *batching, BatchingRound: *rounds, MaxLoad: *maxLoad, Bin: *bin, WorkDir: *work, Keep: *keep, HeapDir: *heapDir,
		Progress: stderr, Command: "cairn-bench scale " + strings.Join(args, " ")}
	for _, s := range strings.Split(*sizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("-sizes: %w", err)
		}
		if n < o.Probe+o.Probe1 || (len(o.Sizes) > 0 && n <= o.Sizes[len(o.Sizes)-1]) {
			return fmt.Errorf("-sizes: %d: sizes must ascend, each at least -probe + -probe1", n)
		}
		o.Sizes = append(o.Sizes, n)
	}
	if o.Conc < 1 || o.RunsPerExp < 1 || o.Sample < 1 {
		return fmt.Errorf("-c, -runs-per-experiment and -sample must be positive")
	}
	rep, err := Run(ctx, o)
	if rep != nil {
		rep.Markdown(stdout)
		if *jsonOut != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(*jsonOut, b, 0o644); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}
