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

// getOutput is what get prints with --json.
type getOutput struct {
	URI    string       `json:"uri"`
	Bucket string       `json:"bucket"`
	Key    string       `json:"key"`
	IsDir  bool         `json:"is_dir"`
	Dest   string       `json:"dest"`
	Files  []getFileOut `json:"files"`
	client.GetStats
}

type getFileOut struct {
	Key           string `json:"key"`
	Path          string `json:"path"`
	Digest        string `json:"digest"`
	Size          int64  `json:"size"`
	FetchedChunks int    `json:"fetched_chunks"`
	FetchedBytes  int64  `json:"fetched_bytes"`
	ReusedChunks  int    `json:"reused_chunks"`
	Unchanged     bool   `json:"unchanged,omitempty"`
}

func getCommand() *command {
	return &command{
		name: "get", minArgs: 1, maxArgs: 2,
		synopsis: "<bucket/key | bucket/prefix/ | runs:/<run_id>/<path> | models:/<model_id>[/<path>]> [dest]",
		summary:  "download a file or a folder, verifying every chunk; resumes when interrupted",
		detail: `Downloads one object to a file, or every object under a prefix (a folder of
a run or model) into a folder. Every chunk is verified against its BLAKE3 digest
before it is written into <dest>.cairn-partial; the whole file is verified,
synced and renamed into place, so dest never holds unverified bytes. Run the
same command again after an interruption: it verifies what the partial file
holds and fetches only the rest. dest defaults to the last element of the
path in the current folder; "-" writes a single file to standard output.`,
		example: `cairn get runs:/0123456789abcdef0123456789abcdef/models_mlflow ./model
cairn get mlflow/1/0123456789abcdef0123456789abcdef/artifacts/models_mlflow/MLmodel -`,
		flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, s *session, args []string) error {
				return s.get(ctx, args)
			}
		},
	}
}

func (s *session) get(ctx context.Context, args []string) error {
	src := args[0]
	u, err := client.ParseURI(src)
	if err != nil {
		return usagef("get: %v", err)
	}
	var res client.Resolved
	if u.Kind == client.KindObject && (u.Key == "" || strings.HasSuffix(u.Key, "/")) {
		res = client.Resolved{URI: src, Bucket: u.Bucket, Key: u.Key, IsDir: true}
	} else if res, err = s.c.Resolve(ctx, src); err != nil {
		return notFound(src, err)
	}
	dest := path.Base(strings.TrimSuffix(res.Key, "/"))
	if res.Key == "" || dest == "." || dest == "/" {
		dest = res.Bucket
	}
	if u.Kind != client.KindObject && u.Path == "" {
		dest = u.ID
	}
	if len(args) > 1 {
		dest = args[1]
		// A file into an existing folder keeps its name, as cp does.
		if fi, err := os.Stat(dest); err == nil && fi.IsDir() && !res.IsDir {
			dest = filepath.Join(dest, path.Base(res.Key))
		}
	}
	if dest == "-" {
		if res.IsDir {
			return usagef("get: %s is a folder; give a destination folder, not -", src)
		}
		_, err := s.c.CopyRange(ctx, s.env.Stdout, res.Bucket, res.Key, 0, -1)
		return notFound(src, err)
	}
	prog, done := s.progress("get " + path.Base(dest))
	got, err := s.c.GetResolved(ctx, res, dest, &client.GetOptions{Progress: prog})
	done()
	if err != nil {
		return notFound(src, err)
	}
	out := getOutput{URI: src, Bucket: res.Bucket, Key: res.Key, IsDir: res.IsDir, Dest: dest, Files: []getFileOut{}, GetStats: got.GetStats}
	for _, d := range got.Downloads {
		out.Files = append(out.Files, getFileOut{Key: d.Key, Path: d.Path, Digest: d.Digest.String(), Size: d.Size,
			FetchedChunks: d.FetchedChunks, FetchedBytes: d.FetchedBytes, ReusedChunks: d.ReusedChunks, Unchanged: d.Unchanged > 0})
	}
	s.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "got %s into %s: %s in %s; fetched %s in %s, %s already there\n",
			src, dest, humanBytes(out.Bytes), plural(out.GetStats.Files, "file"), humanBytes(out.FetchedBytes),
			plural(out.FetchedChunks, "chunk"), plural(out.ReusedChunks, "chunk"))
	})
	return nil
}

// notFound makes a not-found error say plainly what is missing.
func notFound(what string, err error) error {
	if err != nil && errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("%s: not found: %w", what, err)
	}
	return err
}
