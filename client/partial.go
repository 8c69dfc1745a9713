package client

import (
	"context"
	"fmt"
	"io"
	"os"

	"cairn/cas/chunk"
)

// PartialSuffix is appended to a destination path while it downloads. An
// interrupted download leaves the partial file behind; the next download to
// the same destination verifies what it holds and fetches only the rest.
const PartialSuffix = ".cairn-partial"

// fetchPlan says, for each distinct chunk of a recipe that the partial
// file lacks, where to write it, and where to copy it from locally when
// another copy of it is already good.
type fetchPlan struct {
	// fetch lists the chunks to download, each with every offset it goes
	// to.
	fetch []chunkDest
	// copies lists chunks present elsewhere in the partial file.
	copies []chunkCopy
	// good counts the chunks (recipe entries) already verified, and
	// goodBytes their bytes.
	good      int
	goodBytes int64
}

type chunkDest struct {
	ref   chunk.Ref
	index int // first recipe entry, for messages
	offs  []int64
}

type chunkCopy struct {
	size     uint32
	from, to int64
}

// planFetch hashes each chunk range of f that lies within its first have
// bytes against the recipe, and plans the rest.
func planFetch(ctx context.Context, f io.ReaderAt, have int64, recipe chunk.Recipe) (fetchPlan, error) {
	var p fetchPlan
	goodAt := map[chunk.Digest]int64{}
	var buf []byte
	var off int64
	ok := make([]bool, len(recipe))
	for i, ref := range recipe {
		end := off + int64(ref.Size)
		if end <= have {
			if err := ctx.Err(); err != nil {
				return p, err
			}
			if cap(buf) < int(ref.Size) {
				buf = make([]byte, max(int(ref.Size), chunk.DefaultMaxSize))
			}
			b := buf[:ref.Size]
			if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
				return p, fmt.Errorf("read partial file: %w", err)
			}
			if chunk.Sum(b) == ref.Digest {
				ok[i] = true
				p.good++
				p.goodBytes += int64(ref.Size)
				if _, seen := goodAt[ref.Digest]; !seen {
					goodAt[ref.Digest] = off
				}
			}
		}
		off = end
	}
	byDigest := map[chunk.Digest]int{}
	off = 0
	for i, ref := range recipe {
		switch from, local := goodAt[ref.Digest]; {
		case ok[i]:
		case local:
			p.copies = append(p.copies, chunkCopy{size: ref.Size, from: from, to: off})
		default:
			j, seen := byDigest[ref.Digest]
			if !seen {
				j = len(p.fetch)
				byDigest[ref.Digest] = j
				p.fetch = append(p.fetch, chunkDest{ref: ref, index: i})
			}
			p.fetch[j].offs = append(p.fetch[j].offs, off)
		}
		off += int64(ref.Size)
	}
	return p, nil
}

// copyLocal writes the planned local copies.
func copyLocal(f *os.File, copies []chunkCopy) error {
	var buf []byte
	for _, c := range copies {
		if cap(buf) < int(c.size) {
			buf = make([]byte, c.size)
		}
		b := buf[:c.size]
		if _, err := f.ReadAt(b, c.from); err != nil && err != io.EOF {
			return fmt.Errorf("read partial file: %w", err)
		}
		if _, err := f.WriteAt(b, c.to); err != nil {
			return fmt.Errorf("write partial file: %w", err)
		}
	}
	return nil
}

// hashReader returns the digest of everything r holds.
func hashReader(ctx context.Context, r io.Reader) (chunk.Digest, error) {
	h := chunk.NewHasher()
	if _, err := hashAll(ctx, r, h); err != nil {
		return chunk.Digest{}, err
	}
	return h.Digest(), nil
}
