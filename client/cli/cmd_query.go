package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"cairn/client"
)

func lsCommand() *command {
	return &command{
		name: "ls", minArgs: 0, maxArgs: 1,
		synopsis: "[<bucket>[/<prefix>]]",
		summary:  "list buckets, or the keys of a bucket under a prefix",
		detail: `Without an argument, lists the buckets. With one, lists the keys under the
prefix one level deep (folders end in "/"), or every key below it with -r.`,
		example: `cairn ls mlflow/1/0123456789abcdef0123456789abcdef/artifacts/
cairn ls -r --json mlflow/1/`,
		flags: func(fs *flag.FlagSet) action {
			rec := fs.Bool("r", false, "list every key below the prefix, not one level")
			limit := fs.Int("limit", 0, "stop after `n` keys (0: all)")
			return func(ctx context.Context, s *session, args []string) error {
				if len(args) == 0 {
					return s.buckets(ctx)
				}
				bucket, prefix, err := splitTarget(args[0])
				if err != nil {
					return err
				}
				return s.ls(ctx, bucket, prefix, *rec, *limit)
			}
		},
	}
}

func (s *session) ls(ctx context.Context, bucket, prefix string, recursive bool, limit int) error {
	opts := client.ListOptions{Prefix: prefix}
	if !recursive {
		opts.Delimiter = "/"
	}
	out := client.ListResult{Objects: []client.Object{}}
	for {
		page, err := s.c.List(ctx, bucket, opts)
		if err != nil {
			return notFound(bucket, err)
		}
		out.Objects = append(out.Objects, page.Objects...)
		out.CommonPrefixes = append(out.CommonPrefixes, page.CommonPrefixes...)
		if limit > 0 && len(out.Objects) >= limit {
			out.Truncated = len(out.Objects) > limit || page.Truncated
			out.Objects = out.Objects[:limit]
			out.Next = out.Objects[limit-1].Key
			break
		}
		if !page.Truncated || page.Next == "" {
			break
		}
		opts.StartAfter = page.Next
	}
	s.emit(out, func(w io.Writer) {
		tw := table(w)
		for _, p := range out.CommonPrefixes {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", "", "DIR", p)
		}
		for _, o := range out.Objects {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", shortTime(o.MTime), humanBytes(o.Size), o.Key)
		}
		tw.Flush()
	})
	return nil
}

func statCommand() *command {
	return &command{
		name: "stat", minArgs: 1, maxArgs: 1,
		synopsis: "<bucket/key | runs:/<run_id>/<path> | models:/<model_id>/<path>>",
		summary:  "show an object's size, digest, ETag and chunks",
		example:  `cairn stat --chunks mlflow/1/0123456789abcdef0123456789abcdef/artifacts/models_mlflow/model.xgb`,
		flags: func(fs *flag.FlagSet) action {
			chunks := fs.Bool("chunks", false, "list the chunks")
			return func(ctx context.Context, s *session, args []string) error {
				bucket, key, err := s.resolveObject(ctx, args[0])
				if err != nil {
					return err
				}
				st, err := s.c.Stat(ctx, bucket, key)
				if err != nil {
					return notFound(args[0], err)
				}
				s.emit(st, func(w io.Writer) {
					tw := table(w)
					fmt.Fprintf(tw, "key:\t%s/%s\n", st.Bucket, st.Key)
					fmt.Fprintf(tw, "size:\t%d (%s)\n", st.Size, humanBytes(st.Size))
					fmt.Fprintf(tw, "blake3:\t%s\n", st.Digest)
					fmt.Fprintf(tw, "etag:\t%s\n", st.ETag)
					fmt.Fprintf(tw, "content-type:\t%s\n", st.ContentType)
					fmt.Fprintf(tw, "modified:\t%s\n", shortTime(st.MTime))
					fmt.Fprintf(tw, "version:\t%d\n", st.Version)
					fmt.Fprintf(tw, "chunks:\t%d\n", len(st.Recipe))
					for k, v := range st.Meta {
						fmt.Fprintf(tw, "meta %s:\t%s\n", k, v)
					}
					tw.Flush()
					if *chunks {
						var off int64
						for i, r := range st.Recipe {
							fmt.Fprintf(w, "%5d %12d %8d %s\n", i, off, r.Size, r.Digest)
							off += int64(r.Size)
						}
					}
				})
				return nil
			}
		},
	}
}

// resolveObject turns bucket/key or a runs:/ or models:/ URI naming a file
// into its bucket and key.
func (s *session) resolveObject(ctx context.Context, arg string) (string, string, error) {
	u, err := client.ParseURI(arg)
	if err != nil {
		return "", "", usagef("%v", err)
	}
	if u.Kind == client.KindObject {
		if u.Key == "" {
			return "", "", usagef("%q: want <bucket>/<key>", arg)
		}
		return u.Bucket, u.Key, nil
	}
	res, err := s.c.Resolve(ctx, arg)
	if err != nil {
		return "", "", notFound(arg, err)
	}
	if res.IsDir {
		return "", "", usagef("%s is a folder, not a file", arg)
	}
	return res.Bucket, res.Key, nil
}

func rmCommand() *command {
	return &command{
		name: "rm", minArgs: 1, maxArgs: 1,
		synopsis: "<bucket/key> | --prefix <bucket/prefix>",
		summary:  "delete a key, or every key under a prefix",
		detail: `Deletes one key (a missing key is an error, exit 3, unless -f), or with
--prefix every key that starts with the prefix. The chunks go when garbage
collection finds nothing else uses them.`,
		example: `cairn rm mlflow/1/0123456789abcdef0123456789abcdef/artifacts/plot.png
cairn rm --prefix mlflow/1/0123456789abcdef0123456789abcdef/`,
		flags: func(fs *flag.FlagSet) action {
			prefix := fs.Bool("prefix", false, "delete every key under the prefix")
			force := fs.Bool("f", false, "do not fail when nothing is deleted")
			return func(ctx context.Context, s *session, args []string) error {
				bucket, key, err := splitTarget(args[0])
				if err != nil || key == "" {
					return usagef("rm: want <bucket>/<key> or --prefix <bucket>/<prefix>")
				}
				var n int
				if *prefix {
					n, err = s.c.DeletePrefix(ctx, bucket, key)
				} else {
					n, err = s.c.Delete(ctx, bucket, key)
				}
				if err != nil && !(*force && isNotFound(err)) {
					return notFound(args[0], err)
				}
				if n == 0 && !*force {
					return fmt.Errorf("rm %s: not found: %w", args[0], client.ErrNotFound)
				}
				s.emit(client.DeleteResult{Deleted: n}, func(w io.Writer) { fmt.Fprintf(w, "deleted %d objects\n", n) })
				return nil
			}
		},
	}
}

func modelsCommand() *command {
	return &command{
		name: "models", maxArgs: 0,
		summary: "list the indexed MLflow models, with filters",
		detail: `Lists the MLmodel files the store indexed as they were written. --since and
--until take an RFC 3339 time, a date (2006-01-02) or a duration back from now
(such as 24h).`,
		example: `cairn models --flavor xgboost --since 168h
cairn models --run 0123456789abcdef0123456789abcdef --json`,
		flags: func(fs *flag.FlagSet) action {
			var f client.ModelFilter
			fs.StringVar(&f.Flavor, "flavor", "", "only models with this `flavor` (xgboost, python_function, ...)")
			fs.StringVar(&f.RunID, "run", "", "only models of this run `id`")
			fs.StringVar(&f.ID, "id", "", "only the model with this model_id or model_uuid")
			fs.StringVar(&f.Bucket, "bucket", "", "only models in this `bucket`")
			since := fs.String("since", "", "only models created at or after this `time`")
			until := fs.String("until", "", "only models created before this `time`")
			fs.BoolVar(&f.Errors, "errors", false, "include MLmodel files that did not parse")
			fs.IntVar(&f.Limit, "limit", 0, "at most `n` models")
			return func(ctx context.Context, s *session, args []string) error {
				var err error
				if f.Since, err = parseWhen(*since); err != nil {
					return err
				}
				if f.Until, err = parseWhen(*until); err != nil {
					return err
				}
				models, err := s.c.Models(ctx, f)
				if err != nil {
					return err
				}
				s.emit(models, func(w io.Writer) {
					tw := table(w)
					fmt.Fprintln(tw, "CREATED\tRUN\tMODEL\tFLAVORS\tKEY")
					for _, m := range models {
						id := first(m.ModelID, m.ModelUUID, "-")
						var fl []string
						for k := range m.Flavors {
							fl = append(fl, k)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\n", shortTime(m.Created), first(m.RunID, "-"), id, strings.Join(sorted(fl), ","), m.Bucket, m.Key)
					}
					tw.Flush()
				})
				return nil
			}
		},
	}
}

// parseWhen parses RFC 3339, a date, or a duration back from now.
func parseWhen(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, usagef("time %q: want RFC 3339, a date or a duration such as 24h", v)
}
