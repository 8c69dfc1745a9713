package client

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// GetResult is what a Get downloaded: each file, sorted by key, and the
// totals. Resolved says what the URI named.
type GetResult struct {
	Resolved  Resolved   `json:"resolved"`
	Downloads []Download `json:"downloads"`
	GetStats
}

// Get downloads what a URI names (see ParseURI): one object to the file
// dest, or every object under a prefix (a runs:/ or models:/ folder, or
// bucket/prefix/) into the folder dest, keeping the paths below the
// prefix. Each file is fetched as GetFile does.
func (c *Client) Get(ctx context.Context, uri, dest string, opts *GetOptions) (GetResult, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return GetResult{}, err
	}
	var res Resolved
	if u.Kind == KindObject && (u.Key == "" || strings.HasSuffix(u.Key, "/")) {
		res = Resolved{URI: uri, Bucket: u.Bucket, Key: u.Key, IsDir: true}
	} else if res, err = c.Resolve(ctx, uri); err != nil {
		return GetResult{Resolved: res}, err
	}
	return c.GetResolved(ctx, res, dest, opts)
}

// GetResolved downloads what Resolve answered: the object to the file
// dest, or the objects under the prefix into the folder dest.
func (c *Client) GetResolved(ctx context.Context, res Resolved, dest string, opts *GetOptions) (GetResult, error) {
	if res.IsDir {
		out, err := c.GetDir(ctx, res.Bucket, res.Key, dest, opts)
		out.Resolved = res
		return out, err
	}
	d, err := c.GetFile(ctx, res.Bucket, res.Key, dest, opts)
	out := GetResult{Resolved: res}
	if err == nil {
		out.Downloads = []Download{d}
		out.GetStats = d.GetStats
	}
	return out, err
}

// GetDir downloads every object of bucket under prefix into the folder
// dest, at its path below the prefix, several files at a time. A key
// whose path would leave dest (an absolute path, or a ".." segment) is an
// error. It stops at the first error; the files already downloaded stay.
func (c *Client) GetDir(ctx context.Context, bucket, prefix, dest string, opts *GetOptions) (GetResult, error) {
	var out GetResult
	if opts == nil {
		opts = &GetOptions{}
	}
	p := orNoProgress(opts.Progress)
	var objs []Object
	for o, err := range c.ListAll(ctx, bucket, ListOptions{Prefix: prefix, omitETags: true}) {
		if err != nil {
			return out, err
		}
		if strings.HasSuffix(o.Key, "/") && o.Size == 0 {
			continue // a folder marker, as S3 consoles make
		}
		if _, err := localPath(dest, strings.TrimPrefix(o.Key, prefix)); err != nil {
			return out, fmt.Errorf("get %s/%s: %w", bucket, o.Key, err)
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return out, fmt.Errorf("get %s/%s: %w: no objects under the prefix", bucket, prefix, ErrNotFound)
	}
	tr := newTransfer(c)
	work := make(chan Object)
	var mu sync.Mutex
	g, gctx := newGroup(ctx)
	for range min(c.cfg.Parallelism, len(objs)) {
		g.Go(func() error {
			for o := range work {
				dst, _ := localPath(dest, strings.TrimPrefix(o.Key, prefix))
				st, err := c.stat(gctx, bucket, o.Key, true)
				if err != nil {
					return err
				}
				d, err := tr.download(gctx, st, dst, p)
				if err != nil {
					return err
				}
				mu.Lock()
				out.Downloads = append(out.Downloads, d)
				out.add(d.GetStats)
				mu.Unlock()
			}
			return nil
		})
	}
feed:
	for _, o := range objs {
		select {
		case work <- o:
		case <-gctx.Done():
			break feed
		}
	}
	close(work)
	err := g.Wait()
	slices.SortFunc(out.Downloads, func(a, b Download) int { return strings.Compare(a.Key, b.Key) })
	if err == nil {
		err = ctx.Err()
	}
	return out, err
}

// localPath maps a key's path below a prefix to a path under dir,
// refusing paths that would leave it.
func localPath(dir, rel string) (string, error) {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") {
		return "", fmt.Errorf("%w: key path %q cannot be a local file", ErrInvalidRequest, rel)
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: key path %q has a %q segment", ErrInvalidRequest, rel, seg)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(path.Clean(rel))), nil
}
