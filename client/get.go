package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"cairn/cas/chunk"
)

// GetOptions qualify a Get. The zero value is a plain download.
type GetOptions struct {
	// Progress, if set, is told of the bytes verified.
	Progress Progress
}

// Download is one file fetched.
type Download struct {
	Key    string       `json:"key"`
	Path   string       `json:"path"`
	Digest chunk.Digest `json:"digest"`
	Size   int64        `json:"size"`
	GetStats
}

// GetStats count a download: Chunks in the files, FetchedChunks and
// FetchedBytes fetched from the server, ReusedChunks already verified in a
// partial file (or the whole destination, when it already held the
// content: Unchanged).
type GetStats struct {
	Files         int   `json:"files"`
	Bytes         int64 `json:"bytes"`
	Chunks        int   `json:"chunks"`
	FetchedChunks int   `json:"fetched_chunks"`
	FetchedBytes  int64 `json:"fetched_bytes"`
	ReusedChunks  int   `json:"reused_chunks"`
	Unchanged     int   `json:"unchanged"`
}

func (s *GetStats) add(o GetStats) {
	s.Files += o.Files
	s.Bytes += o.Bytes
	s.Chunks += o.Chunks
	s.FetchedChunks += o.FetchedChunks
	s.FetchedBytes += o.FetchedBytes
	s.ReusedChunks += o.ReusedChunks
	s.Unchanged += o.Unchanged
}

// GetFile downloads bucket/key to dest. Chunks are fetched in parallel,
// each verified against its digest before it is written at its offset
// into dest + PartialSuffix; the partial file is then synced, its whole
// digest checked, and it is renamed to dest. Nothing unverified ever
// reaches dest: a chunk that fails verification is an error naming it
// (matching ErrDigestMismatch) and dest is left as it was. An interrupted
// download resumes: the chunks already in the partial file are verified
// and only the others fetched. A dest that already holds the content is
// left alone. Missing parent folders are created.
func (c *Client) GetFile(ctx context.Context, bucket, key, dest string, opts *GetOptions) (Download, error) {
	if opts == nil {
		opts = &GetOptions{}
	}
	st, err := c.stat(ctx, bucket, key, true)
	if err != nil {
		return Download{Key: key, Path: dest}, err
	}
	return newTransfer(c).download(ctx, st, dest, orNoProgress(opts.Progress))
}

func (tr *transfer) download(ctx context.Context, st Stat, dest string, p Progress) (Download, error) {
	d := Download{Key: st.Key, Path: dest, Digest: st.Digest, Size: st.Size,
		GetStats: GetStats{Files: 1, Bytes: st.Size, Chunks: len(st.Recipe)}}
	fail := func(err error) (Download, error) {
		return d, fmt.Errorf("get %s/%s: %w", st.Bucket, st.Key, err)
	}
	recipe := chunk.Recipe(st.Recipe)
	if recipe.Size() != st.Size {
		return fail(fmt.Errorf("the recipe adds up to %d bytes, the object has %d", recipe.Size(), st.Size))
	}
	p.Grow(st.Size)
	if same, err := holds(ctx, dest, st); err != nil || same {
		if same {
			d.Unchanged, d.ReusedChunks = 1, len(recipe)
			p.Advance(st.Size)
			os.Remove(dest + PartialSuffix)
		}
		return d, err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fail(err)
	}
	partial := dest + PartialSuffix
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	plan, err := planFetch(ctx, f, fi.Size(), recipe)
	if err != nil {
		return fail(err)
	}
	d.ReusedChunks = plan.good
	p.Advance(plan.goodBytes)
	if err := f.Truncate(st.Size); err != nil {
		return fail(err)
	}
	if err := copyLocal(f, plan.copies); err != nil {
		return fail(err)
	}
	for _, cp := range plan.copies {
		p.Advance(int64(cp.size))
	}
	n, b, err := tr.fetchInto(ctx, f, plan.fetch, p)
	d.FetchedChunks, d.FetchedBytes = n, b
	if err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	got, err := hashReader(ctx, io.NewSectionReader(f, 0, st.Size))
	if err != nil {
		return fail(err)
	}
	if got != st.Digest {
		return fail(fmt.Errorf("%w: the file hashes to %s, want %s", ErrDigestMismatch, got, st.Digest))
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(partial, dest); err != nil {
		return fail(err)
	}
	return d, syncDir(filepath.Dir(dest))
}

// fetchInto downloads the planned chunks, in groups of about
// fetchGroupBytes with up to Parallelism requests in flight, and writes
// each, verified, at its offsets.
func (tr *transfer) fetchInto(ctx context.Context, f *os.File, fetch []chunkDest, p Progress) (int, int64, error) {
	c, lim := tr.c, tr.lim
	refs := make([]chunk.Ref, len(fetch))
	for i, cd := range fetch {
		refs[i] = cd.ref
	}
	var chunks, bytes atomic.Int64
	g, gctx := newGroup(ctx)
	for _, grp := range groupRefs(refs) {
		if err := lim.acquire(gctx); err != nil {
			break
		}
		g.Go(func() error {
			defer lim.release()
			bs, err := c.getChunks(gctx, refs[grp[0]:grp[1]])
			if err != nil {
				cd := fetch[grp[0]]
				return fmt.Errorf("chunks from %d at offset %d: %w", cd.index, cd.offs[0], err)
			}
			for k, b := range bs {
				cd := fetch[grp[0]+k]
				chunks.Add(1)
				bytes.Add(int64(len(b)))
				for _, off := range cd.offs {
					if _, err := f.WriteAt(b, off); err != nil {
						return fmt.Errorf("write partial file: %w", err)
					}
					p.Advance(int64(len(b)))
				}
			}
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return int(chunks.Load()), bytes.Load(), err
}

// holds reports whether path is a regular file with the object's content.
func holds(ctx context.Context, path string, st Stat) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != st.Size {
		return false, err
	}
	got, err := hashReader(ctx, f)
	return err == nil && got == st.Digest, err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
