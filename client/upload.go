package client

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"cairn/cas/chunk"
)

// chunkSpan locates a chunk in a file.
type chunkSpan struct {
	ref chunk.Ref
	off int64
}

// spans maps each distinct chunk of a recipe to its first place in the file.
func spans(recipe chunk.Recipe) map[chunk.Digest]chunkSpan {
	out := make(map[chunk.Digest]chunkSpan, len(recipe))
	var off int64
	for _, ref := range recipe {
		if _, ok := out[ref.Digest]; !ok {
			out[ref.Digest] = chunkSpan{ref: ref, off: off}
		}
		off += int64(ref.Size)
	}
	return out
}

// sendMissing asks the server which of the recipe's chunks it lacks (one
// question per file unless the recipe is over MaxMissingBatch chunks) and
// uploads those, reading each range of r again and checking it still
// hashes to its digest. It returns how many chunks and bytes it sent.
func (tr *transfer) sendMissing(ctx context.Context, r io.ReaderAt, recipe chunk.Recipe, p Progress) (int, int64, error) {
	c := tr.c
	if len(recipe) == 0 {
		return 0, 0, nil
	}
	missing, err := c.Missing(ctx, recipe.Distinct())
	if err != nil || len(missing) == 0 {
		return 0, 0, err
	}
	where := spans(recipe)
	var total int64
	for _, d := range missing {
		s, ok := where[d]
		if !ok {
			return 0, 0, fmt.Errorf("server asked for chunk %s, which the file does not have", d)
		}
		total += int64(s.ref.Size)
	}
	p.Grow(total)
	var sentChunks atomic.Int64
	var sentBytes atomic.Int64
	bufs := sync.Pool{New: func() any { b := make([]byte, chunk.DefaultMaxSize); return &b }}
	g, gctx := newGroup(ctx)
	for _, d := range missing {
		up, mine := tr.claim(d)
		if !mine {
			// Another file of this transfer sends it.
			g.Go(func() error { return up.wait(gctx) })
			continue
		}
		if err := tr.lim.acquire(gctx); err != nil {
			tr.finish(d, up, err)
			break
		}
		s := where[d]
		g.Go(func() (err error) {
			defer tr.lim.release()
			defer func() { tr.finish(d, up, err) }()
			bp := bufs.Get().(*[]byte)
			defer bufs.Put(bp)
			b := (*bp)[:s.ref.Size]
			if _, err := r.ReadAt(b, s.off); err != nil && err != io.EOF {
				return fmt.Errorf("read chunk %s at offset %d: %w", d, s.off, err)
			}
			if chunk.Sum(b) != d {
				return fmt.Errorf("read chunk %s at offset %d: %w: the file changed while it was being logged", d, s.off, ErrDigestMismatch)
			}
			if err := c.PutChunk(gctx, d, b); err != nil {
				return err
			}
			sentChunks.Add(1)
			sentBytes.Add(int64(len(b)))
			p.Advance(int64(len(b)))
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return int(sentChunks.Load()), sentBytes.Load(), err
}
