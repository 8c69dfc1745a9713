package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"cairn/cas/chunk"
)

// GetRange returns n bytes of bucket/key from offset off (n < 0: to the
// end), fetching only the chunks that cover them, each verified. The
// range is held in memory; CopyRange streams it.
func (c *Client) GetRange(ctx context.Context, bucket, key string, off, n int64) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := c.CopyRange(ctx, &buf, bucket, key, off, n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// CopyRange writes n bytes of bucket/key from offset off (n < 0: to the
// end) to w, in order, fetching only the covering chunks, several ahead,
// each verified before any of it is written. A range past the end is cut
// to the end; an offset past the end is an error matching
// ErrInvalidRequest.
func (c *Client) CopyRange(ctx context.Context, w io.Writer, bucket, key string, off, n int64) (int64, error) {
	st, err := c.stat(ctx, bucket, key, true)
	if err != nil {
		return 0, err
	}
	if off < 0 || off > st.Size {
		return 0, fmt.Errorf("get %s/%s: %w: offset %d outside %d bytes", bucket, key, ErrInvalidRequest, off, st.Size)
	}
	if n < 0 || off+n > st.Size {
		n = st.Size - off
	}
	if n == 0 {
		return 0, nil
	}
	// A writer that can make room for what it will take (bytes.Buffer)
	// makes it once, not by doubling, and copying, as the chunks arrive.
	if g, ok := w.(interface{ Grow(int) }); ok && n == int64(int(n)) {
		g.Grow(int(n))
	}
	recipe := chunk.Recipe(st.Recipe)
	offsets := recipe.Offsets()
	first, last := chunk.Locate(offsets, off), chunk.Locate(offsets, off+n-1)
	var written int64
	err = c.fetchOrdered(ctx, recipe[first:last+1], func(i int, b []byte) error {
		start := offsets[first+i]
		lo, hi := max(off-start, 0), min(off+n-start, int64(len(b)))
		k, err := w.Write(b[lo:hi])
		written += int64(k)
		return err
	})
	if err != nil {
		return written, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return written, nil
}

type fetched struct {
	bs  [][]byte
	err error
}

// fetchOrdered fetches refs in groups of about fetchGroupBytes, with up
// to Parallelism requests in flight, and hands the chunks to fn in order;
// at most Parallelism groups wait in memory.
func (c *Client) fetchOrdered(ctx context.Context, refs []chunk.Ref, fn func(i int, b []byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	groups := groupRefs(refs)
	results := make([]chan fetched, len(groups))
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	lim := newLimiter(c.cfg.Parallelism)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		for i, g := range groups {
			if lim.acquire(ctx) != nil {
				results[i] <- fetched{err: ctx.Err()}
				return
			}
			wg.Go(func() {
				bs, err := c.getChunks(ctx, refs[g[0]:g[1]])
				results[i] <- fetched{bs, err}
			})
		}
	})
	for i, g := range groups {
		r := <-results[i]
		if r.err != nil {
			return r.err
		}
		lim.release()
		for k, b := range r.bs {
			if err := fn(g[0]+k, b); err != nil {
				return err
			}
		}
	}
	return nil
}
