package client

import (
	"context"
	"fmt"
	"io"
	"os"

	"cairn/cas/chunk"
)

// FileHash is what the server would record for some content: its length,
// its BLAKE3 digest (what b3sum prints) and its recipe under
// chunk.DefaultParams.
type FileHash struct {
	Size   int64        `json:"size"`
	Digest chunk.Digest `json:"digest"`
	Recipe chunk.Recipe `json:"-"`
}

// Hash chunks and hashes size bytes of r, reading them once for the
// chunks and once, concurrently, for the whole-file digest (the second
// read usually comes from the page cache). It is safe for concurrent use
// as long as r is.
func Hash(ctx context.Context, r io.ReaderAt, size int64) (FileHash, error) {
	return hashWith(ctx, r, size, noProgress{})
}

// HashFile hashes the file at path as Hash does.
func HashFile(ctx context.Context, path string) (FileHash, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileHash{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return FileHash{}, err
	}
	return Hash(ctx, f, fi.Size())
}

func hashWith(ctx context.Context, r io.ReaderAt, size int64, p Progress) (FileHash, error) {
	p.Grow(size)
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	whole := make(chan error, 1)
	h := chunk.NewHasher()
	go func() {
		_, err := hashAll(hctx, io.NewSectionReader(r, 0, size), h)
		whole <- err
	}()
	recipe, err := chunkAll(ctx, io.NewSectionReader(r, 0, size), p)
	if err != nil {
		cancel()
	}
	if werr := <-whole; err == nil {
		err = werr
	}
	if err != nil {
		return FileHash{}, err
	}
	if got := recipe.Size(); got != size {
		return FileHash{}, fmt.Errorf("hash: read %d bytes, want %d: the file changed", got, size)
	}
	return FileHash{Size: size, Digest: h.Digest(), Recipe: recipe}, nil
}

// chunkAll splits r into chunks and names each one.
func chunkAll(ctx context.Context, r io.Reader, p Progress) (chunk.Recipe, error) {
	ck, err := chunk.NewChunker(r, chunk.DefaultParams())
	if err != nil {
		return nil, err
	}
	var recipe chunk.Recipe
	for {
		b, err := ck.Next()
		if err == io.EOF {
			return recipe, nil
		}
		if err != nil {
			return nil, fmt.Errorf("chunk: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recipe = append(recipe, chunk.Ref{Digest: chunk.Sum(b), Size: uint32(len(b))})
		p.Advance(int64(len(b)))
	}
}

// hashAll writes what r holds to h, and returns how many bytes that was.
func hashAll(ctx context.Context, r io.Reader, h *chunk.Hasher) (int64, error) {
	rb := readPool.Get().(*[readBuffer]byte)
	defer readPool.Put(rb)
	var total int64
	for {
		n, err := io.ReadFull(r, rb[:])
		h.Write(rb[:n])
		total += int64(n)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return total, nil
		case err != nil:
			return total, fmt.Errorf("hash: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
