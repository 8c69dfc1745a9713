package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"cairn/cas/chunk"
)

// MaxMissingBatch is the most digests one POST /v1/chunks/missing may ask
// about (the server's limit, raftfsm.MaxChunksPerFile).
const MaxMissingBatch = 1 << 16

// PutOptions qualify a Put. The zero value is a plain write.
type PutOptions struct {
	ContentType string
	Meta        map[string]string
	// IfMatch and IfNoneMatch make the commit conditional (ETag, or "*"
	// for IfNoneMatch: the key must not exist). A conditional commit is
	// not retried when its outcome is unknown. PutDir ignores them.
	IfMatch     string
	IfNoneMatch string
	// Progress, if set, is told of the bytes hashed and sent.
	Progress Progress
}

// PutStats count what a Put logged and what it sent: Bytes and Chunks are
// the content logged, SentBytes and SentChunks the chunks the server
// lacked and that went over the wire.
type PutStats struct {
	Files      int   `json:"files"`
	Bytes      int64 `json:"bytes"`
	Chunks     int   `json:"chunks"`
	SentChunks int   `json:"sent_chunks"`
	SentBytes  int64 `json:"sent_bytes"`
}

func (s *PutStats) add(o PutStats) {
	s.Files += o.Files
	s.Bytes += o.Bytes
	s.Chunks += o.Chunks
	s.SentChunks += o.SentChunks
	s.SentBytes += o.SentBytes
}

// Upload is one file logged.
type Upload struct {
	Path   string `json:"path,omitempty"` // the local file, if any
	Object Object `json:"object"`
	PutStats
}

// Put logs size bytes of r under bucket/key: it reads them once,
// chunking and hashing them in batches of about 4 MiB, asks the server
// which chunks of each batch it lacks, uploads only those, and commits
// the key. Memory stays bounded whatever the size: three batches and
// their encoded uploads, some 26 MiB at most. r should not change during
// the call: what is logged is what was read, which hashes to the digest
// committed; if the server then needs a chunk again (it was collected
// meanwhile) and r no longer holds it, Put fails with ErrDigestMismatch.
func (c *Client) Put(ctx context.Context, bucket, key string, r io.ReaderAt, size int64, opts *PutOptions) (Upload, error) {
	if opts == nil {
		opts = &PutOptions{}
	}
	return newTransfer(c).put(ctx, bucket, key, r, size, opts)
}

// Uploader puts objects from many goroutines at once, as an import does,
// and sends a chunk that several of them hold at the same time once: the
// others wait for that upload instead of sending it again. It remembers
// the chunks in flight and the last uploaderMemory it sent, not all.
type Uploader struct{ tr *transfer }

// uploaderMemory is how many sent chunks an Uploader remembers (some
// 8 MiB of them).
const uploaderMemory = 1 << 16

// NewUploader returns an Uploader of c's transfers.
func (c *Client) NewUploader() *Uploader {
	tr := newTransfer(c)
	tr.recent = make([]chunk.Digest, uploaderMemory)
	return &Uploader{tr: tr}
}

// Put is Client.Put through the uploader. It is safe for concurrent use.
func (u *Uploader) Put(ctx context.Context, bucket, key string, r io.ReaderAt, size int64, opts *PutOptions) (Upload, error) {
	if opts == nil {
		opts = &PutOptions{}
	}
	return u.tr.put(ctx, bucket, key, r, size, opts)
}

// PutFile logs the file at path under bucket/key, as Put does.
func (c *Client) PutFile(ctx context.Context, bucket, key, path string, opts *PutOptions) (Upload, error) {
	if opts == nil {
		opts = &PutOptions{}
	}
	return newTransfer(c).putFile(ctx, bucket, key, path, opts)
}

func (tr *transfer) putFile(ctx context.Context, bucket, key, path string, opts *PutOptions) (Upload, error) {
	r, size, done, err := source{path: path}.open()
	if err != nil {
		return Upload{}, fmt.Errorf("put %s: %w", path, err)
	}
	defer done()
	u, err := tr.put(ctx, bucket, key, r, size, opts)
	u.Path = path
	return u, err
}

func (tr *transfer) put(ctx context.Context, bucket, key string, r io.ReaderAt, size int64, opts *PutOptions) (Upload, error) {
	p := orNoProgress(opts.Progress)
	u := Upload{Object: Object{Bucket: bucket, Key: key}, PutStats: PutStats{Files: 1, Bytes: size}}
	req := CommitObject{Key: key, CommitRequest: CommitRequest{Size: size, ContentType: opts.ContentType,
		Meta: opts.Meta, IfMatch: opts.IfMatch, IfNoneMatch: opts.IfNoneMatch}}
	if size > 0 && !tr.c.noStored.Load() {
		likely, err := tr.likelyStored(ctx, r, size)
		if err != nil {
			return u, fmt.Errorf("put %s/%s: %w", bucket, key, err)
		}
		if likely {
			res, ok, err := tr.commitStored(ctx, bucket, key, r, &req.CommitRequest, p)
			if err != nil {
				return u, fmt.Errorf("put %s/%s: %w", bucket, key, err)
			}
			if ok {
				u.Object, u.Chunks = res.Object, res.Chunks
				return u, nil
			}
		}
	}
	u, err := tr.putStreamed(ctx, bucket, r, u, req, p)
	var ae *APIError
	if !req.Digest.IsZero() && errors.As(err, &ae) && ae.Code == "BadDigest" {
		// The content changed after the pass that hashed it whole: log
		// it as one read gives it, chunks and digest alike, as a Put that
		// did not ask first does.
		sent := u.PutStats
		req.Digest = chunk.Digest{}
		u, err = tr.putStreamed(ctx, bucket, r, u, req, p)
		u.SentChunks += sent.SentChunks
		u.SentBytes += sent.SentBytes
	}
	return u, err
}

// putStreamed cuts, hashes and uploads the content of req (stream), then
// commits it. req.Digest, unless zero, is the whole file's digest,
// computed beforehand.
func (tr *transfer) putStreamed(ctx context.Context, bucket string, r io.ReaderAt, u Upload, req CommitObject, p Progress) (Upload, error) {
	s, err := tr.stream(ctx, r, req.Size, req.Digest, p)
	u.Chunks, u.SentChunks, u.SentBytes = len(s.fh.Recipe), s.sentChunks, s.sentBytes
	if err != nil {
		return u, fmt.Errorf("put %s/%s: %w", bucket, req.Key, err)
	}
	req.Digest, req.Chunks = s.fh.Digest, s.fh.Recipe
	if req.Chunks == nil {
		req.Chunks = chunk.Recipe{}
	}
	ups := []Upload{u}
	err = tr.commitEach(ctx, bucket, []source{{key: req.Key, r: r, size: req.Size}}, []CommitObject{req}, ups, p)
	return ups[0], err
}

// likelyStored reports whether the cluster may hold the content, size
// bytes of r, whole: whether it holds its first chunk (a file it holds
// has all its chunks, and the first chunk of new content, a booster
// trained anew, is almost never there). The question costs reading and
// hashing one chunk and one small request, where a commit by digest of
// new content would cost a pass over all of it first. Content of one
// chunk is always worth the commit by digest: its chunk is the file.
func (tr *transfer) likelyStored(ctx context.Context, r io.ReaderAt, size int64) (bool, error) {
	ck := chunkerOf(io.NewSectionReader(r, 0, size))
	defer releaseChunker(ck)
	b, err := ck.Next()
	if err != nil {
		return false, fmt.Errorf("chunk: %w", err)
	}
	if int64(len(b)) == size {
		return true, nil
	}
	missing, err := tr.c.Missing(ctx, []chunk.Digest{chunk.Sum(b)})
	return err == nil && len(missing) == 0, err
}

// commitStored hashes the content of req (req.Size bytes of r) and
// commits it as a file the cluster already holds (CommitRequest.Stored):
// logging content again takes one pass over it and one request, with no
// chunking, no chunk list and no question about chunks. ok is false when
// the node holds no such file (or is of a release before stored
// commits); req.Digest is then set, and the caller sends the content.
func (tr *transfer) commitStored(ctx context.Context, bucket, key string, r io.ReaderAt, req *CommitRequest, p Progress) (res PutResult, ok bool, err error) {
	p.Grow(req.Size)
	h := chunk.NewHasher()
	n, err := hashAll(ctx, io.NewSectionReader(r, 0, req.Size), h)
	if err != nil {
		return res, false, err
	}
	if n != req.Size {
		return res, false, fmt.Errorf("hash: read %d bytes, want %d: the file changed", n, req.Size)
	}
	p.Advance(n)
	req.Digest = h.Digest()
	stored := *req
	stored.Stored, stored.Chunks = true, chunk.Recipe{}
	res, err = tr.c.commit(ctx, bucket, key, stored)
	var ae *APIError
	switch {
	case err == nil:
		return res, true, nil
	case errors.As(err, &ae) && (ae.Code == "NoSuchFile" || ae.Code == "MissingChunks"):
		return res, false, nil
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.Code == "MalformedJSON" &&
		strings.Contains(ae.Message, `unknown field "stored"`):
		tr.c.noStored.Store(true)
		return res, false, nil
	}
	return res, false, err
}

// commit makes bucket/key point to content whose chunks the server holds.
// An unconditional commit is idempotent.
func (c *Client) commit(ctx context.Context, bucket, key string, req CommitRequest) (PutResult, error) {
	var out PutResult
	cl := call{method: http.MethodPost, path: objectPath("commit", bucket, key), idempotent: req.IfMatch == "" && req.IfNoneMatch == ""}
	err := c.conn.callJSON(ctx, cl, req, &out)
	return out, err
}

// Missing returns those of ds that the server lacks, asking in batches of
// at most MaxMissingBatch digests.
func (c *Client) Missing(ctx context.Context, ds []chunk.Digest) ([]chunk.Digest, error) {
	var out []chunk.Digest
	for len(ds) > 0 {
		n := min(len(ds), MaxMissingBatch)
		var res MissingResult
		cl := call{method: http.MethodPost, path: "/v1/chunks/missing", idempotent: true}
		if err := c.conn.callJSON(ctx, cl, MissingRequest{Digests: ds[:n]}, &res); err != nil {
			return nil, fmt.Errorf("ask for missing chunks: %w", err)
		}
		out = append(out, res.Missing...)
		ds = ds[n:]
	}
	return out, nil
}

// PutChunk uploads one chunk, which the server verifies against d. It is
// idempotent.
func (c *Client) PutChunk(ctx context.Context, d chunk.Digest, b []byte) error {
	cl := call{method: http.MethodPut, path: "/v1/chunks/" + d.String(), body: b, contentType: "application/octet-stream", idempotent: true}
	if _, err := c.conn.do(ctx, cl); err != nil {
		return fmt.Errorf("put chunk %s: %w", d, err)
	}
	return nil
}
