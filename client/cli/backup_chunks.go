package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"cairn/cas/chunk"
)

// parallel calls fn for 0..n-1 on at most jobs goroutines. The first
// error cancels the context the others see and is returned.
func parallel(ctx context.Context, n, jobs int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(jobs, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// chunkCopy counts what copyChunks did.
type chunkCopy struct {
	copied, skipped int
	bytes           int64
}

// copyChunks copies the chunks of refs that r lacks from the cluster into
// r, each verified on the way (GetChunk checks its digest), jobs at once.
// A chunk r holds with the right size is skipped; content addressing makes
// it the same bytes.
func (s *session) copyChunks(ctx context.Context, r repo, refs []chunk.Ref, jobs int) (chunkCopy, error) {
	var cs chunkCopy
	have, err := repoChunks(ctx, r)
	if err != nil {
		return cs, err
	}
	var todo []chunk.Ref
	var total int64
	for _, ref := range refs {
		if n, ok := have[ref.Digest]; ok && n == int64(ref.Size) {
			cs.skipped++
			continue
		}
		todo = append(todo, ref)
		total += int64(ref.Size)
	}
	p, stop := s.progress("chunks")
	defer stop()
	if p != nil {
		p.Grow(total)
	}
	var copied, bytesCopied atomic.Int64
	err = parallel(ctx, len(todo), jobs, func(ctx context.Context, i int) error {
		ref := todo[i]
		b, err := s.c.GetChunk(ctx, ref.Digest, ref.Size)
		if err != nil {
			return err
		}
		if err := r.put(ctx, chunkName(ref.Digest), bytes.NewReader(b), int64(len(b))); err != nil {
			return fmt.Errorf("write chunk %s: %w", ref.Digest, err)
		}
		copied.Add(1)
		bytesCopied.Add(int64(len(b)))
		if p != nil {
			p.Advance(int64(len(b)))
		}
		return nil
	})
	cs.copied, cs.bytes = int(copied.Load()), bytesCopied.Load()
	return cs, err
}

// readChunk reads a chunk from r and checks it: a chunk whose bytes do not
// hash to its name, or whose size is not the one the snapshot records,
// is an error.
func readChunk(ctx context.Context, r repo, ref chunk.Ref) ([]byte, error) {
	rc, _, err := r.get(ctx, chunkName(ref.Digest))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(ref.Size)+1))
	if err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", ref.Digest, err)
	}
	if len(b) != int(ref.Size) {
		return nil, fmt.Errorf("chunk %s: %w: %d bytes, want %d", ref.Digest, errBackupBad, len(b), ref.Size)
	}
	if got := chunk.Sum(b); got != ref.Digest {
		return nil, fmt.Errorf("chunk %s: %w: its bytes hash to %s", ref.Digest, errBackupBad, got)
	}
	return b, nil
}
