package client

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
// parallel, each committed on its own: an error stops the rest, and the
// files committed before it stay. Each file is asked about with one
// missing-chunks question.
func (c *Client) PutDir(ctx context.Context, bucket, prefix, dir string, opts *PutOptions) (DirUpload, error) {
	var out DirUpload
	if opts == nil {
		opts = &PutOptions{}
	}
	fopts := &PutOptions{Meta: opts.Meta, Progress: opts.Progress}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	files, err := listFiles(dir)
	if err != nil {
		return out, fmt.Errorf("put %s: %w", dir, err)
	}
	tr := newTransfer(c)
	work := make(chan string)
	var mu sync.Mutex
	g, gctx := newGroup(ctx)
	for range min(c.cfg.Parallelism, len(files)) {
		g.Go(func() error {
			for rel := range work {
				u, err := tr.putFile(gctx, bucket, prefix+rel, filepath.Join(dir, filepath.FromSlash(rel)), fopts)
				if err != nil {
					return err
				}
				mu.Lock()
				out.Uploads = append(out.Uploads, u)
				out.add(u.PutStats)
				mu.Unlock()
			}
			return nil
		})
	}
feed:
	for _, rel := range files {
		select {
		case work <- rel:
		case <-gctx.Done():
			break feed
		}
	}
	close(work)
	err = g.Wait()
	slices.SortFunc(out.Uploads, func(a, b Upload) int { return strings.Compare(a.Object.Key, b.Object.Key) })
	if err == nil {
		err = ctx.Err()
	}
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
