package client

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DirUpload is what PutDir logged: each file, sorted by key, and the
// totals.
type DirUpload struct {
	Uploads []Upload `json:"uploads"`
	PutStats
}

// PutDir logs every regular file under dir (symbolic links to files
// included, links to folders not followed) as prefix + its path relative to
// dir, with slashes. A non-empty prefix gets a trailing "/". Files go up in
// parallel and are committed together, as PutMany commits: a folder of up
// to MaxCommitMany files appears whole or not at all. opts gives the
// metadata of every file and the Progress.
func (c *Client) PutDir(ctx context.Context, bucket, prefix, dir string, opts *PutOptions) (DirUpload, error) {
	if opts == nil {
		opts = &PutOptions{}
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	files, err := listFiles(dir)
	if err != nil {
		return DirUpload{}, fmt.Errorf("put %s: %w", dir, err)
	}
	srcs := make([]source, len(files))
	for i, rel := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		fi, err := os.Stat(path)
		if err != nil {
			return DirUpload{}, fmt.Errorf("put %s: %w", path, err)
		}
		srcs[i] = source{key: prefix + rel, path: path, size: fi.Size(), meta: opts.Meta}
	}
	out, err := newTransfer(c).putMany(ctx, bucket, srcs, opts)
	slices.SortFunc(out.Uploads, func(a, b Upload) int { return strings.Compare(a.Object.Key, b.Object.Key) })
	return out, err
}

// listFiles returns the paths, relative to dir and with slashes, of the
// regular files under dir, sorted.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	return out, err
}
