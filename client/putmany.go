package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"cairn/cas/chunk"
)

// PutItem is one file of a PutMany: its key and R, which holds its Size
// bytes.
type PutItem struct {
	Key         string
	R           io.ReaderAt
	Size        int64
	ContentType string
	Meta        map[string]string
}

// PutMany logs items under bucket: only the chunks the cluster lacks go
// up (those of files of up to 4 MiB packed together, a question and an
// upload a few MiB; larger files as Put sends them), and the files are then
// committed together, all or none, in one entry of the cluster's log, so a
// reader sees all of them or none of them. Items
// past MaxCommitMany files, or past MaxMissingBatch chunks, go in further
// commits, each all or none. A cluster with a member of a release that
// cannot commit several files at once gets them committed one by one. The
// result lists the files in the order of items. opts gives the Progress;
// its other fields are not used.
func (c *Client) PutMany(ctx context.Context, bucket string, items []PutItem, opts *PutOptions) (DirUpload, error) {
	srcs := make([]source, len(items))
	for i, it := range items {
		srcs[i] = source{key: it.Key, r: it.R, size: it.Size, contentType: it.ContentType, meta: it.Meta}
	}
	return newTransfer(c).putMany(ctx, bucket, srcs, opts)
}

// source is a file of a putMany: a local file at path, or r.
type source struct {
	key         string
	path        string
	r           io.ReaderAt
	size        int64
	contentType string
	meta        map[string]string
}

// open returns the source's content and its length; done closes it.
func (s source) open() (r io.ReaderAt, size int64, done func() error, err error) {
	if s.path == "" {
		return s.r, s.size, func() error { return nil }, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%w: not a regular file", ErrInvalidRequest)
	}
	return f, fi.Size(), f.Close, nil
}

// putMany sends the chunks of srcs, MaxCommitMany files at a time, then
// commits each such group (commitGroup).
func (tr *transfer) putMany(ctx context.Context, bucket string, srcs []source, opts *PutOptions) (DirUpload, error) {
	if opts == nil {
		opts = &PutOptions{}
	}
	p := orNoProgress(opts.Progress)
	out := DirUpload{Uploads: make([]Upload, 0, len(srcs))}
	for len(srcs) > 0 {
		n := min(len(srcs), MaxCommitMany)
		ups, err := tr.putGroup(ctx, bucket, srcs[:n], p)
		if err != nil {
			// The group was not committed, or (committed one by one)
			// only in part: the result holds the groups before it.
			return out, err
		}
		for _, u := range ups {
			out.add(u.PutStats)
		}
		out.Uploads = append(out.Uploads, ups...)
		srcs = srcs[n:]
	}
	return out, nil
}

// putGroup sends the chunks of srcs, then commits them. Files of up to
// packMax bytes are packed: read whole, one after the other, their chunks
// gathered into shared batches that each ask the server one question and
// go up in one request, so that a folder of small files (MLflow's
// MLmodel and environment files) costs a request a few MiB, not one a
// file. Larger files stream as Put streams them, Parallelism at once,
// beside the packing.
func (tr *transfer) putGroup(ctx context.Context, bucket string, srcs []source, p Progress) ([]Upload, error) {
	ups := make([]Upload, len(srcs))
	reqs := make([]CommitObject, len(srcs))
	var small, large []int
	for i, s := range srcs {
		ups[i] = Upload{Path: s.path, Object: Object{Bucket: bucket, Key: s.key}}
		if s.size <= packMax {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	commitObject := func(i int, fh FileHash) {
		recipe := fh.Recipe
		if recipe == nil {
			recipe = chunk.Recipe{}
		}
		reqs[i] = CommitObject{Key: srcs[i].key, CommitRequest: CommitRequest{Digest: fh.Digest, Size: fh.Size, Chunks: recipe,
			ContentType: srcs[i].contentType, Meta: srcs[i].meta}}
	}
	// streamOne sends file i as Put does.
	streamOne := func(gctx context.Context, i int) error {
		s := srcs[i]
		r, size, done, err := s.open()
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", bucket, s.key, err)
		}
		st, err := tr.stream(gctx, r, size, chunk.Digest{}, p)
		done()
		ups[i].PutStats = PutStats{Files: 1, Bytes: size, Chunks: len(st.fh.Recipe), SentChunks: st.sentChunks, SentBytes: st.sentBytes}
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", bucket, s.key, err)
		}
		commitObject(i, st.fh)
		return nil
	}
	work := make(chan int)
	g, gctx := newGroup(ctx)
	if len(small) > 0 {
		g.Go(func() error {
			k := &packer{tr: tr, p: p, ups: ups, seen: map[chunk.Digest]bool{}}
			defer k.release()
			for _, i := range small {
				fh, ok, err := k.add(gctx, i, srcs[i])
				if err != nil {
					return fmt.Errorf("put %s/%s: %w", bucket, srcs[i].key, err)
				}
				if !ok { // grown past packMax since it was listed
					if err := streamOne(gctx, i); err != nil {
						return err
					}
					continue
				}
				commitObject(i, fh)
			}
			return k.flush(gctx)
		})
	}
	for range min(tr.c.cfg.Parallelism, len(large)) {
		g.Go(func() error {
			for i := range work {
				if err := streamOne(gctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
feed:
	for _, i := range large {
		select {
		case work <- i:
		case <-gctx.Done():
			break feed
		}
	}
	close(work)
	if err := g.Wait(); err != nil {
		return ups, err
	}
	if err := ctx.Err(); err != nil {
		return ups, err
	}
	// Commit in runs of at most MaxMissingBatch chunks.
	for lo := 0; lo < len(reqs); {
		hi, chunks := lo, 0
		for hi < len(reqs) && (hi == lo || chunks+len(reqs[hi].Chunks) <= MaxMissingBatch) {
			chunks += len(reqs[hi].Chunks)
			hi++
		}
		if err := tr.commitGroup(ctx, bucket, srcs[lo:hi], reqs[lo:hi], ups[lo:hi], p); err != nil {
			return ups, err
		}
		lo = hi
	}
	return ups, nil
}

// commitGroup commits reqs in one request. Chunks that the cluster
// collected between their upload and the commit are sent again, read
// again from the sources, once. A cluster that cannot commit several
// files at once (a member of an older release) gets them one by one.
func (tr *transfer) commitGroup(ctx context.Context, bucket string, srcs []source, reqs []CommitObject, ups []Upload, p Progress) error {
	res, err := tr.c.CommitMany(ctx, bucket, reqs)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == "MissingChunks" {
		for i, s := range srcs {
			if err := tr.resend(ctx, s, reqs[i].Chunks, &ups[i], p); err != nil {
				return fmt.Errorf("put %s/%s: %w", bucket, s.key, err)
			}
		}
		res, err = tr.c.CommitMany(ctx, bucket, reqs)
	}
	if errors.As(err, &ae) && cannotCommitMany(ae) {
		return tr.commitEach(ctx, bucket, srcs, reqs, ups, p)
	}
	if err != nil {
		return fmt.Errorf("commit %d files to %s: %w", len(reqs), bucket, err)
	}
	for i := range res {
		ups[i].Object = res[i].Object
	}
	return nil
}

// cannotCommitMany reports whether e is the answer of a node that cannot
// commit several files at once: NotImplemented while a member of the
// cluster runs an older release, and from a node of a release before
// POST /v1/commit/<bucket>, which reads its body as one file's commit.
func cannotCommitMany(e *APIError) bool {
	return e.Code == "NotImplemented" ||
		e.Status == http.StatusBadRequest && e.Code == "MalformedJSON" && strings.Contains(e.Message, `unknown field "objects"`)
}

// commitEach commits reqs one by one, as Put does.
func (tr *transfer) commitEach(ctx context.Context, bucket string, srcs []source, reqs []CommitObject, ups []Upload, p Progress) error {
	for i, r := range reqs {
		res, err := tr.c.commit(ctx, bucket, r.Key, r.CommitRequest)
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == "MissingChunks" {
			if err := tr.resend(ctx, srcs[i], r.Chunks, &ups[i], p); err != nil {
				return fmt.Errorf("put %s/%s: %w", bucket, r.Key, err)
			}
			res, err = tr.c.commit(ctx, bucket, r.Key, r.CommitRequest)
		}
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", bucket, r.Key, err)
		}
		ups[i].Object = res.Object
	}
	return nil
}

// packMax is the largest file putGroup packs with others.
const packMax = batchBytes

// packer gathers the chunks of small files into shared batches and sends
// each full batch (sendBatch: one question, one upload).
type packer struct {
	tr   *transfer
	p    Progress
	ups  []Upload
	b    *batch
	ck   *chunk.Chunker        // reused from file to file
	from []int                 // the file of each of b's entries
	seen map[chunk.Digest]bool // chunks already in a batch of the group
}

// add reads file i whole, chunks and hashes it into the open batch, and
// sends the batch once it is full. ok is false, and nothing read, when
// the file holds more than packMax bytes.
func (k *packer) add(ctx context.Context, i int, s source) (fh FileHash, ok bool, err error) {
	r, size, done, err := s.open()
	if err != nil {
		return fh, false, err
	}
	defer done()
	if size > packMax {
		return fh, false, nil
	}
	if k.b == nil {
		k.b = batchPool.Get().(*batch)
	}
	k.p.Grow(size)
	if k.ck == nil {
		k.ck = chunkerOf(nil)
	}
	ck := k.ck
	ck.Reset(io.NewSectionReader(r, 0, size))
	h := chunk.NewHasher()
	var recipe chunk.Recipe
	for {
		c, err := ck.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fh, false, fmt.Errorf("chunk: %w", err)
		}
		h.Write(c)
		d := chunk.Sum(c)
		recipe = append(recipe, chunk.Ref{Digest: d, Size: uint32(len(c))})
		k.b.add(d, c, k.seen[d])
		k.from = append(k.from, i)
		k.seen[d] = true
		k.p.Advance(int64(len(c)))
	}
	if got := recipe.Size(); got != size {
		return fh, false, fmt.Errorf("read %d bytes, want %d: the file changed", got, size)
	}
	k.ups[i].PutStats = PutStats{Files: 1, Bytes: size, Chunks: len(recipe)}
	if len(k.b.plain) >= batchBytes {
		if err := k.flush(ctx); err != nil {
			return fh, false, err
		}
	}
	return FileHash{Size: size, Digest: h.Digest(), Recipe: recipe}, true, nil
}

// flush sends the open batch's chunks that the server lacks, counting
// each in the upload of the file it came from.
func (k *packer) flush(ctx context.Context) error {
	if k.b == nil || len(k.b.ents) == 0 {
		return nil
	}
	if err := k.tr.lim.acquire(ctx); err != nil {
		return err
	}
	_, err := k.tr.sendBatch(ctx, k.b, true, k.p)
	k.tr.lim.release()
	if err != nil {
		return err
	}
	for _, j := range k.b.sent {
		u := &k.ups[k.from[j]]
		u.SentChunks++
		u.SentBytes += int64(k.b.ents[j].ref.Size)
	}
	k.b.reset()
	k.from = k.from[:0]
	return nil
}

// release gives the batch back to the pool.
func (k *packer) release() {
	if k.b != nil {
		k.b.reset()
		batchPool.Put(k.b)
		k.b = nil
	}
	if k.ck != nil {
		releaseChunker(k.ck)
		k.ck = nil
	}
}

// resend sends the chunks of recipe that the server lacks, read again
// from s, and counts them in u.
func (tr *transfer) resend(ctx context.Context, s source, recipe chunk.Recipe, u *Upload, p Progress) error {
	r, _, done, err := s.open()
	if err != nil {
		return err
	}
	defer done()
	fresh := &transfer{c: tr.c, lim: tr.lim, sent: map[chunk.Digest]*sending{}}
	n, b, err := fresh.sendMissing(ctx, r, recipe, p)
	u.SentChunks += n
	u.SentBytes += b
	return err
}

// CommitMany commits files whose chunks the cluster holds to keys of
// bucket, all of them or none, in one request (at most MaxCommitMany
// files and MaxMissingBatch chunks). The results are in the order of
// objs. A commit with conditions is not retried when its outcome is
// unknown.
func (c *Client) CommitMany(ctx context.Context, bucket string, objs []CommitObject) ([]PutResult, error) {
	idem := true
	for _, o := range objs {
		if o.IfMatch != "" || o.IfNoneMatch != "" {
			idem = false
		}
	}
	var out CommitManyResult
	cl := call{method: http.MethodPost, path: objectPath("commit", bucket, ""), idempotent: idem}
	if err := c.conn.callJSON(ctx, cl, CommitManyRequest{Objects: objs}, &out); err != nil {
		return nil, err
	}
	if len(out.Objects) != len(objs) {
		return nil, fmt.Errorf("commit of %d files answered with %d objects", len(objs), len(out.Objects))
	}
	return out.Objects, nil
}
