package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"cairn/client"
)

// splitTarget splits "bucket[/key]" or "s3://bucket[/key]".
func splitTarget(s string) (string, string, error) {
	b, k, _ := strings.Cut(strings.TrimPrefix(s, "s3://"), "/")
	if b == "" || strings.Contains(b, ":") {
		return "", "", usagef("%q: want <bucket>[/<key>]", s)
	}
	return b, k, nil
}

// putOutput is what put and log-model print with --json.
type putOutput struct {
	Bucket string       `json:"bucket"`
	Key    string       `json:"key,omitempty"`
	Prefix string       `json:"prefix,omitempty"`
	URI    string       `json:"uri,omitempty"`
	Files  []putFileOut `json:"files"`
	client.PutStats
}

type putFileOut struct {
	Path       string `json:"path"`
	Key        string `json:"key"`
	Digest     string `json:"digest"`
	Size       int64  `json:"size"`
	Chunks     int    `json:"chunks"`
	SentChunks int    `json:"sent_chunks"`
	SentBytes  int64  `json:"sent_bytes"`
	Version    uint64 `json:"version"`
}

func putCommand() *command {
	return &command{
		name: "put", aliases: []string{"log-artifact"}, minArgs: 2, maxArgs: 2,
		synopsis: "<file|dir> <bucket>[/<key>|/<prefix>/]",
		summary:  "log a file or a folder: send only the chunks the cluster lacks",
		detail: `A file goes to the key given, or, when the destination ends in "/" or
names only a bucket, to that prefix plus the file's name. A folder goes under
the prefix given, each file at its path below the folder, and its files are
committed together: up to 1,000 of them appear at once or not at all. Each
file is chunked and hashed here; only the chunks the cluster lacks are sent.
The output counts the bytes logged and the bytes sent.`,
		example: `cairn put model.xgb mlflow/1/0123456789abcdef0123456789abcdef/artifacts/model/model.xgb
cairn put ./plots/ reports/2026-11/`,
		flags: func(fs *flag.FlagSet) action {
			ct := fs.String("content-type", "", "content `type` of a single file")
			meta := map[string]string{}
			fs.Func("meta", "user metadata `key=value` (repeatable)", func(v string) error {
				k, val, ok := strings.Cut(v, "=")
				if !ok || k == "" {
					return fmt.Errorf("want key=value, got %q", v)
				}
				meta[k] = val
				return nil
			})
			return func(ctx context.Context, s *session, args []string) error {
				bucket, key, err := splitTarget(args[1])
				if err != nil {
					return err
				}
				return s.put(ctx, args[0], bucket, key, &client.PutOptions{ContentType: *ct, Meta: meta}, "")
			}
		},
	}
}

// put logs a file or a folder and prints what it sent.
func (s *session) put(ctx context.Context, src, bucket, key string, opts *client.PutOptions, uri string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	// Before hashing or sending anything: a missing bucket would
	// otherwise show only at the commit, after the whole upload.
	if _, err := s.c.Bucket(ctx, bucket); err != nil {
		if errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("put: bucket %s does not exist (cairn mb %s makes it): %w", bucket, bucket, client.ErrNotFound)
		}
		return fmt.Errorf("put: %w", err)
	}
	prog, done := s.progress("put " + filepath.Base(src))
	opts.Progress = prog
	out := putOutput{Bucket: bucket, URI: uri, Files: []putFileOut{}}
	var ups []client.Upload
	if fi.IsDir() {
		res, err := s.c.PutDir(ctx, bucket, key, src, opts)
		done()
		if err != nil {
			return err
		}
		out.Prefix, ups, out.PutStats = strings.TrimSuffix(key, "/")+"/", res.Uploads, res.PutStats
		if key == "" {
			out.Prefix = ""
		}
	} else {
		if key == "" || strings.HasSuffix(key, "/") {
			key += filepath.Base(src)
		}
		u, err := s.c.PutFile(ctx, bucket, key, src, opts)
		done()
		if err != nil {
			return err
		}
		out.Key, ups, out.PutStats = key, []client.Upload{u}, u.PutStats
	}
	for _, u := range ups {
		rel := u.Path
		if r, err := filepath.Rel(src, u.Path); err == nil && fi.IsDir() {
			rel = filepath.ToSlash(r)
		}
		out.Files = append(out.Files, putFileOut{Path: rel, Key: u.Object.Key, Digest: u.Object.Digest.String(), Size: u.Object.Size,
			Chunks: u.Chunks, SentChunks: u.SentChunks, SentBytes: u.SentBytes, Version: u.Object.Version})
	}
	s.emit(out, func(w io.Writer) {
		dst := bucket + "/" + out.Key + out.Prefix
		if uri != "" {
			dst = uri
		}
		fmt.Fprintf(w, "logged %s to %s: %s in %s (%s); sent %s in %s (%.1f%%)\n",
			src, dst, humanBytes(out.Bytes), plural(out.PutStats.Files, "file"), plural(out.Chunks, "chunk"),
			humanBytes(out.SentBytes), plural(out.SentChunks, "chunk"), percent(out.SentBytes, out.Bytes))
	})
	return nil
}

func logModelCommand() *command {
	return &command{
		name: "log-model", minArgs: 1, maxArgs: 1,
		synopsis: "<dir> --experiment <id> --run <run_id>",
		summary:  "log an MLflow model folder under a run, where runs:/<run_id>/<path> finds it",
		detail: `Uploads the folder under <experiment>/<run_id>/artifacts/<path>/ in the
bucket (creating the bucket if needed): the layout of MLflow's artifact
repositories, so that runs:/<run_id>/<path> resolves and the MLmodel is
indexed. The folder's files are committed together: a reader never sees the
MLmodel without the files beside it. Run ids are 32 lowercase hex characters,
as MLflow makes them.`,
		example: `cairn log-model ./model --experiment 1 --run 0123456789abcdef0123456789abcdef
cairn get runs:/0123456789abcdef0123456789abcdef/models_mlflow ./copy`,
		flags: func(fs *flag.FlagSet) action {
			exp := fs.String("experiment", "", "MLflow experiment `id` (required)")
			run := fs.String("run", "", "MLflow run `id` (required)")
			p := fs.String("path", "models_mlflow", "artifact `path` of the model in the run")
			bucket := fs.String("bucket", "mlflow", "`bucket` of the MLflow artifact root")
			return func(ctx context.Context, s *session, args []string) error {
				if err := checkLogModel(*exp, *run, *p); err != nil {
					return err
				}
				if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
					return usagef("log-model: %s is not a folder", args[0])
				}
				if _, err := os.Stat(filepath.Join(args[0], "MLmodel")); err != nil {
					fmt.Fprintf(s.env.Stderr, "cairn: warning: %s has no MLmodel file; the model index will not list it\n", args[0])
				}
				if _, err := s.c.CreateBucket(ctx, *bucket, client.BucketOptions{IfNotExists: true}); err != nil {
					return err
				}
				artifact := strings.Trim(path.Clean("/"+*p), "/")
				prefix := *exp + "/" + *run + "/artifacts/" + artifact + "/"
				return s.put(ctx, args[0], *bucket, prefix, &client.PutOptions{}, "runs:/"+*run+"/"+artifact)
			}
		},
	}
}

func checkLogModel(exp, run, p string) error {
	switch {
	case exp == "" || run == "":
		return usagef("log-model: give --experiment and --run")
	case strings.ContainsAny(exp, "/\\"):
		return usagef("log-model: experiment id %q has a slash", exp)
	case !isRunID(run):
		return usagef("log-model: run id %q is not 32 lowercase hex characters", run)
	case strings.Trim(path.Clean("/"+p), "/") == "":
		return usagef("log-model: empty --path")
	}
	return nil
}

func isRunID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
