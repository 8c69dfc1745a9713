package load

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Main runs the benchmark command line: flags in args, the Markdown report
// on stdout, progress on stderr (a line as each phase ends, and while it
// runs a bar with its rate and ETA when stderr is a terminal).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a small workload that finishes in under a minute")
	var targets multiFlag
	fs.Var(&targets, "target", "target to measure, repeatable: cairn-client, cairn-s3, cairn-client=URL and cairn-s3=URL (with the access key in CAIRN_TOKEN as id:secret), s3=URL,KEY,SECRET[,DATADIR], dir[=PATH]; the last one is the baseline of the ratios")
	rounds := fs.Int("rounds", 0, "rounds per target, alternating targets (default 3, quick 2)")
	seed := fs.Uint64("seed", 1, "workload seed")
	experiments := fs.Int("experiments", 0, "experiments (default 4)")
	runs := fs.Int("runs", 0, "runs per experiment (default 25)")
	distinct := fs.Int("boosters", 0, "distinct boosters in the pool (default 10)")
	size := fs.String("size", "", "booster size class: s, m or l (default m)")
	scale := fs.String("scale", "", "namespace sizes of the scale phase, comma-separated (default 1000,10000,100000; empty string with -scale=none to skip)")
	commits := fs.Int("commits", 0, "small objects in the commit phase")
	sample := fs.Int("sample", 0, "runs the get phase downloads per round (default 10, quick 3)")
	ingestN := fs.Int("ingest", -1, "boosters the ingest phases PUT new, then again: 24, or 4 with -quick, unless set; 0 skips them")
	bin := fs.String("cairn-bin", os.Getenv("CAIRN_BIN"), "run cairn targets as this binary's serve processes (their own RSS); default: in this process")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := FullOptions()
	if *quick {
		o = QuickOptions()
	}
	if len(targets) > 0 {
		o.Targets = targets
	}
	if *rounds > 0 {
		o.Rounds = *rounds
	}
	o.Spec.Seed = *seed
	for _, p := range []struct {
		dst *int
		v   int
	}{{&o.Spec.Experiments, *experiments}, {&o.Spec.Runs, *runs}, {&o.Spec.Boosters, *distinct}, {&o.Commits, *commits}} {
		if p.v > 0 {
			*p.dst = p.v
		}
	}
	if *sample > 0 {
		o.Sample = *sample
	}
	if *ingestN >= 0 {
		o.Ingest = *ingestN
	}
	if *size != "" {
		o.Spec.Size = *size
	}
	switch *scale {
	case "":
	case "none":
		o.Scale = nil
	default:
		o.Scale = nil
		for _, s := range strings.Split(*scale, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-scale: %w", err)
			}
			o.Scale = append(o.Scale, n)
		}
	}
	o.CairnBin = *bin
	o.Progress = stderr
	rep, err := Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Markdown(stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		return os.WriteFile(*jsonOut, b, 0o644)
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
