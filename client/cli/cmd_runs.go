package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"cairn/client"
)

func isNotFound(err error) bool { return errors.Is(err, client.ErrNotFound) }

func sorted(s []string) []string { slices.Sort(s); return s }

// runOutput is what runs <id> prints with --json.
type runOutput struct {
	Runs      []client.Run      `json:"runs"`
	Artifacts []client.Artifact `json:"artifacts"`
}

func runsCommand() *command {
	return &command{
		name: "runs", maxArgs: 1,
		synopsis: "[<run_id>]",
		summary:  "list the MLflow runs the store holds, or one run's artifacts",
		example: `cairn runs --experiment 1
cairn runs 0123456789abcdef0123456789abcdef --path models_mlflow`,
		flags: func(fs *flag.FlagSet) action {
			var f client.RunFilter
			fs.StringVar(&f.ExperimentID, "experiment", "", "only runs of this experiment `id`")
			fs.StringVar(&f.Bucket, "bucket", "", "only runs in this `bucket`")
			fs.StringVar(&f.Kind, "kind", "", "only runs (run) or MLflow 3 logged models (model)")
			fs.IntVar(&f.Limit, "limit", 0, "at most `n` runs")
			p := fs.String("path", "", "with a run id: only the artifacts under this `path`")
			return func(ctx context.Context, s *session, args []string) error {
				if len(args) == 1 {
					return s.run1(ctx, args[0], *p)
				}
				runs, err := s.c.Runs(ctx, f)
				if err != nil {
					return err
				}
				s.emit(runs, func(w io.Writer) { printRuns(w, runs) })
				return nil
			}
		},
	}
}

func printRuns(w io.Writer, runs []client.Run) {
	tw := table(w)
	fmt.Fprintln(tw, "RUN\tEXPERIMENT\tKIND\tFILES\tBYTES\tLAST WRITE\tROOT")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s/%s\n", r.RunID, r.ExperimentID, r.Kind, r.Files, humanBytes(r.Bytes), shortTime(r.Last), r.Bucket, r.Root)
	}
	tw.Flush()
}

func (s *session) run1(ctx context.Context, id, path string) error {
	runs, err := s.c.Run(ctx, id)
	if err != nil {
		return notFound("run "+id, err)
	}
	arts, err := s.c.Artifacts(ctx, id, path)
	if err != nil {
		return notFound("run "+id, err)
	}
	s.emit(runOutput{Runs: runs, Artifacts: arts}, func(w io.Writer) {
		printRuns(w, runs)
		fmt.Fprintln(w)
		tw := table(w)
		fmt.Fprintln(tw, "SIZE\tBLAKE3\tPATH")
		for _, a := range arts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", humanBytes(a.Size), a.Digest.Short(), a.Path)
		}
		tw.Flush()
	})
	return nil
}

func duCommand() *command {
	return &command{
		name: "du", maxArgs: 0,
		summary: "show logical vs stored bytes, the dedup ratio, and what runs share",
		detail: `Logical bytes are what the objects add up to; unique bytes count each
distinct chunk once; stored bytes are what the node's chunk store takes after
compression. Lists the buckets, the largest runs, and the files stored once but
referenced by several keys and runs.`,
		example: `cairn du --top 5`,
		flags: func(fs *flag.FlagSet) action {
			top := fs.Int("top", 10, "how many runs and shared files to show")
			return func(ctx context.Context, s *session, args []string) error {
				st, err := s.c.Stats(ctx, *top)
				if err != nil {
					return err
				}
				s.emit(st, func(w io.Writer) { printStats(w, st) })
				return nil
			}
		},
	}
}

func printStats(w io.Writer, st client.Stats) {
	tw := table(w)
	fmt.Fprintf(tw, "objects:\t%d\t(%d distinct files, %d chunks)\n", st.Objects, st.Files, st.Chunks)
	fmt.Fprintf(tw, "logical:\t%s\t(what the objects add up to)\n", humanBytes(st.LogicalBytes))
	fmt.Fprintf(tw, "live:\t%s\t(distinct chunks they reference, before compression)\n", humanBytes(st.UniqueBytes))
	fmt.Fprintf(tw, "garbage:\t%s\t(chunks on this node nothing references, awaiting GC)\n", humanBytes(st.GarbageBytes))
	fmt.Fprintf(tw, "stored:\t%s\t(this node's chunk store, garbage included)\n", humanBytes(st.StoredBytes))
	fmt.Fprintf(tw, "dedup:\t%.2fx\t(logical / live)\n", st.DedupRatio)
	fmt.Fprintf(tw, "compression:\t%.2fx\t(this node's chunks before / after compression)\n", st.CompressionRatio)
	tw.Flush()
	fmt.Fprintln(w, "\nBUCKETS")
	tw = table(w)
	for _, b := range st.Buckets {
		fmt.Fprintf(tw, "%s\t%d objects\t%s\n", b.Name, b.Objects, humanBytes(b.Bytes))
	}
	tw.Flush()
	if len(st.Runs) > 0 {
		fmt.Fprintln(w, "\nLARGEST RUNS")
		tw = table(w)
		for _, r := range st.Runs {
			fmt.Fprintf(tw, "%s\t%s\t%d files\t%s\n", r.RunID, r.Kind, r.Files, humanBytes(r.Bytes))
		}
		tw.Flush()
	}
	if len(st.Shared) > 0 {
		fmt.Fprintln(w, "\nSHARED FILES")
		tw = table(w)
		fmt.Fprintln(tw, "BLAKE3\tSIZE\tREFS\tSAVED\tRUNS\tA KEY")
		for _, f := range st.Shared {
			key := ""
			if len(f.Keys) > 0 {
				key = f.Keys[0]
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", f.Digest.Short(), humanBytes(f.Size), f.Refs, humanBytes(f.Saved), len(f.Runs), key)
		}
		tw.Flush()
	}
}

func resolveCommand() *command {
	return &command{
		name: "resolve", minArgs: 1, maxArgs: 1,
		synopsis: "<runs:/<run_id>/<path> | models:/<model_id>[/<path>] | bucket/key>",
		summary:  "show the bucket and key (or prefix) a URI names",
		example:  `cairn resolve runs:/0123456789abcdef0123456789abcdef/models_mlflow`,
		flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, s *session, args []string) error {
				res, err := s.c.Resolve(ctx, args[0])
				if err != nil {
					return notFound(args[0], err)
				}
				s.emit(res, func(w io.Writer) {
					kind := "file"
					if res.IsDir {
						kind = "folder"
					}
					fmt.Fprintf(w, "%s: %s %s/%s\n", args[0], kind, res.Bucket, res.Key)
				})
				return nil
			}
		},
	}
}
