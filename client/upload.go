package client

import (
	"context"
	"fmt"
	"io"

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

// sendMissing asks the server which of the recipe's chunks it lacks and
// uploads those in batches, reading each range of r again and checking it
// still hashes to its digest. It returns how many chunks and bytes it
// sent.
func (tr *transfer) sendMissing(ctx context.Context, r io.ReaderAt, recipe chunk.Recipe, p Progress) (int, int64, error) {
	if len(recipe) == 0 {
		return 0, 0, nil
	}
	missing, err := tr.c.Missing(ctx, recipe.Distinct())
	if err != nil || len(missing) == 0 {
		return 0, 0, err
	}
	where := spans(recipe)
	var st PutStats
	b := &batch{}
	flush := func() error {
		s, err := tr.sendBatch(ctx, b, false, p)
		st.SentChunks += s.SentChunks
		st.SentBytes += s.SentBytes
		b.reset()
		return err
	}
	buf := make([]byte, chunk.DefaultMaxSize)
	for _, d := range missing {
		s, ok := where[d]
		if !ok {
			return st.SentChunks, st.SentBytes, fmt.Errorf("server asked for chunk %s, which the file does not have", d)
		}
		c := buf[:s.ref.Size]
		if _, err := r.ReadAt(c, s.off); err != nil && err != io.EOF {
			return st.SentChunks, st.SentBytes, fmt.Errorf("read chunk %s at offset %d: %w", d, s.off, err)
		}
		if chunk.Sum(c) != d {
			return st.SentChunks, st.SentBytes, fmt.Errorf("read chunk %s at offset %d: %w: the file changed while it was being logged", d, s.off, ErrDigestMismatch)
		}
		b.add(d, c, false)
		if len(b.plain) >= batchBytes {
			if err := flush(); err != nil {
				return st.SentChunks, st.SentBytes, err
			}
		}
	}
	err = flush()
	return st.SentChunks, st.SentBytes, err
}
