package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"cairn/cas/chunk"
	"cairn/client"
)

// restoreResult is what backup restore prints.
type restoreResult struct {
	Snapshot       string         `json:"snapshot"`
	Applied        uint64         `json:"applied"`
	Index          uint64         `json:"index"`
	Objects        int            `json:"objects"`
	Chunks         int            `json:"chunks"`
	ChunksMissing  int            `json:"chunks_missing"` // lacking before the upload
	ChunksUploaded int            `json:"chunks_uploaded"`
	BytesUploaded  int64          `json:"bytes_uploaded"`
	StillMissing   []chunk.Digest `json:"still_missing,omitempty"`
	ObjectsLacking []string       `json:"objects_lacking,omitempty"` // bucket/key
}

func (s *session) backupRestore(ctx context.Context, src string, o *backupOptions) error {
	b, err := s.openBackup(ctx, src, o)
	if err != nil {
		return err
	}
	tmp, info, err := s.spoolSnapshot(ctx, b)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	rr, err := s.c.Admin().Restore(ctx, func() (io.Reader, error) {
		_, err := tmp.Seek(0, io.SeekStart)
		return tmp, err
	}, info.Size)
	if err != nil {
		return err
	}
	res := restoreResult{Snapshot: b.String(), Applied: rr.Applied, Index: info.Index, Objects: info.Objects, Chunks: len(info.Chunks)}
	ds := make([]chunk.Digest, len(info.Chunks))
	size := make(map[chunk.Digest]uint32, len(info.Chunks))
	for i, r := range info.Chunks {
		ds[i], size[r.Digest] = r.Digest, r.Size
	}
	missing, err := s.c.Missing(ctx, ds)
	if err != nil {
		return fmt.Errorf("restore: the state is restored, but: %w", err)
	}
	res.ChunksMissing = len(missing)
	if len(missing) > 0 && b.r != nil {
		missing, err = s.uploadChunks(ctx, b.r, missing, size, o.jobs, &res)
		if err != nil {
			return fmt.Errorf("restore: the state is restored, and %d chunks uploaded before: %w", res.ChunksUploaded, err)
		}
	}
	sortDigests(missing)
	res.StillMissing = missing
	if len(missing) > 0 {
		if res.ObjectsLacking, err = s.objectsLacking(ctx, missing); err != nil {
			return fmt.Errorf("restore: the state is restored, but %d chunks are missing and: %w", len(missing), err)
		}
	}
	s.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "restored %s: %d objects, applied index %d\n", res.Snapshot, res.Objects, res.Applied)
		fmt.Fprintf(w, "chunks: %d referenced, %d missing in the cluster, %d uploaded (%s)\n",
			res.Chunks, res.ChunksMissing, res.ChunksUploaded, humanBytes(res.BytesUploaded))
		for _, k := range res.ObjectsLacking {
			fmt.Fprintf(w, "lacks chunks: %s\n", k)
		}
	})
	if len(missing) > 0 {
		return fmt.Errorf("restore: the state is restored, but %d chunks are in neither the cluster nor the backup: %d objects cannot be read",
			len(missing), len(res.ObjectsLacking))
	}
	return nil
}

// uploadChunks sends the chunks of missing that the repo holds, each
// checked against its digest here and by the server, and returns those
// still missing.
func (s *session) uploadChunks(ctx context.Context, r repo, missing []chunk.Digest, size map[chunk.Digest]uint32, jobs int, res *restoreResult) ([]chunk.Digest, error) {
	have, err := repoChunks(ctx, r)
	if err != nil {
		return nil, err
	}
	var todo []chunk.Ref
	var still []chunk.Digest
	var total int64
	for _, d := range missing {
		if _, ok := have[d]; ok {
			todo = append(todo, chunk.Ref{Digest: d, Size: size[d]})
			total += int64(size[d])
		} else {
			still = append(still, d)
		}
	}
	p, stop := s.progress("chunks")
	defer stop()
	if p != nil {
		p.Grow(total)
	}
	var n, bytes atomic.Int64
	err = parallel(ctx, len(todo), jobs, func(ctx context.Context, i int) error {
		b, err := readChunk(ctx, r, todo[i])
		if err != nil {
			return err
		}
		if err := s.c.PutChunk(ctx, todo[i].Digest, b); err != nil {
			return err
		}
		n.Add(1)
		bytes.Add(int64(len(b)))
		if p != nil {
			p.Advance(int64(len(b)))
		}
		return nil
	})
	res.ChunksUploaded, res.BytesUploaded = int(n.Load()), bytes.Load()
	return still, err
}

// objectsLacking lists the objects (bucket/key) whose recipes name a
// chunk of missing, walking every bucket.
func (s *session) objectsLacking(ctx context.Context, missing []chunk.Digest) ([]string, error) {
	gone := make(map[chunk.Digest]bool, len(missing))
	for _, d := range missing {
		gone[d] = true
	}
	bs, err := s.c.Buckets(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range bs {
		for o, err := range s.c.ListAll(ctx, b.Name, client.ListOptions{}) {
			if err != nil {
				return nil, err
			}
			st, err := s.c.Stat(ctx, b.Name, o.Key)
			if err != nil {
				return nil, err
			}
			for _, r := range st.Recipe {
				if gone[r.Digest] {
					out = append(out, b.Name+"/"+o.Key)
					break
				}
			}
		}
	}
	return out, nil
}
