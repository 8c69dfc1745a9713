package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cairn/cas/chunk"
	"cairn/client"
)

// errDiffers is what verify returns when local and stored content differ.
var errDiffers = errors.New("content differs")

// verifyOutput is what verify prints with --json.
type verifyOutput struct {
	Match bool          `json:"match"`
	Files []verifyEntry `json:"files"`
}

// verifyEntry compares one file; Status is "ok", "differs", "missing"
// (local only) or "extra" (stored only).
type verifyEntry struct {
	Path         string       `json:"path,omitempty"`
	Key          string       `json:"key,omitempty"`
	Status       string       `json:"status"`
	LocalDigest  chunk.Digest `json:"local_digest,omitzero"`
	LocalSize    int64        `json:"local_size"`
	StoredDigest chunk.Digest `json:"stored_digest,omitzero"`
	StoredSize   int64        `json:"stored_size"`
}

func verifyCommand() *command {
	return &command{
		name: "verify", minArgs: 2, maxArgs: 2,
		synopsis: "<local file|dir> <bucket/key | bucket/prefix/ | runs:/... | models:/...>",
		summary:  "check that local files match what is stored, without downloading",
		detail: `Chunks and hashes the local file (or every file of a local folder) and
compares its BLAKE3 digest with the stored object's (for a folder: with every
object under the prefix). Nothing is downloaded. Exits 0 when everything
matches and 4 when anything differs, is missing or is extra.`,
		example: `cairn verify ./model runs:/0123456789abcdef0123456789abcdef/models_mlflow
cairn verify model.xgb mlflow/1/0123456789abcdef0123456789abcdef/artifacts/models_mlflow/model.xgb`,
		flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, s *session, args []string) error { return s.verify(ctx, args[0], args[1]) }
		},
	}
}

func (s *session) verify(ctx context.Context, local, remote string) error {
	u, err := client.ParseURI(remote)
	if err != nil {
		return usagef("verify: %v", err)
	}
	fi, err := os.Stat(local)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	res := client.Resolved{URI: remote, Bucket: u.Bucket, Key: u.Key, IsDir: fi.IsDir()}
	if u.Kind != client.KindObject || (!fi.IsDir() && u.Key != "") {
		if res, err = s.c.Resolve(ctx, remote); err != nil {
			return notFound(remote, err)
		}
	}
	if fi.IsDir() != res.IsDir {
		return fmt.Errorf("verify: %s and %s: %w: one is a folder, the other a file", local, remote, errDiffers)
	}
	var out verifyOutput
	if res.IsDir {
		out.Files, err = s.verifyDir(ctx, local, res)
	} else {
		var e verifyEntry
		e, err = s.verifyFile(ctx, local, res.Bucket, res.Key)
		out.Files = []verifyEntry{e}
	}
	if err != nil {
		return err
	}
	out.Match = true
	for _, e := range out.Files {
		out.Match = out.Match && e.Status == "ok"
	}
	s.emit(out, func(w io.Writer) {
		for _, e := range out.Files {
			if e.Status != "ok" {
				fmt.Fprintf(w, "%-8s %s %s\n", e.Status, e.Path, e.Key)
			}
		}
		if out.Match {
			fmt.Fprintf(w, "%s matches %s (%d files)\n", local, remote, len(out.Files))
		}
	})
	if !out.Match {
		return fmt.Errorf("verify %s against %s: %w", local, remote, errDiffers)
	}
	return nil
}

func (s *session) verifyFile(ctx context.Context, local, bucket, key string) (verifyEntry, error) {
	fh, err := client.HashFile(ctx, local)
	if err != nil {
		return verifyEntry{}, fmt.Errorf("verify: %w", err)
	}
	st, err := s.c.Stat(ctx, bucket, key)
	if err != nil {
		return verifyEntry{}, notFound(bucket+"/"+key, err)
	}
	e := verifyEntry{Path: local, Key: key, LocalDigest: fh.Digest, LocalSize: fh.Size, StoredDigest: st.Digest, StoredSize: st.Size, Status: "ok"}
	if fh.Digest != st.Digest || fh.Size != st.Size {
		e.Status = "differs"
	}
	return e, nil
}

// verifyDir compares every local file under dir with the objects under
// the prefix, using the digests of the listing.
func (s *session) verifyDir(ctx context.Context, dir string, res client.Resolved) ([]verifyEntry, error) {
	stored := map[string]client.Object{}
	for o, err := range s.c.ListAll(ctx, res.Bucket, client.ListOptions{Prefix: res.Key}) {
		if err != nil {
			return nil, err
		}
		stored[strings.TrimPrefix(o.Key, res.Key)] = o
	}
	var out []verifyEntry
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		fh, err := client.HashFile(ctx, p)
		if err != nil {
			return err
		}
		e := verifyEntry{Path: rel, LocalDigest: fh.Digest, LocalSize: fh.Size, Status: "missing"}
		if o, ok := stored[rel]; ok {
			e.Key, e.StoredDigest, e.StoredSize, e.Status = o.Key, o.Digest, o.Size, "ok"
			if o.Digest != fh.Digest || o.Size != fh.Size {
				e.Status = "differs"
			}
			delete(stored, rel)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	for rel, o := range stored {
		out = append(out, verifyEntry{Path: rel, Key: o.Key, StoredDigest: o.Digest, StoredSize: o.Size, Status: "extra"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
