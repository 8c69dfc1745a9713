package core

import (
	"context"
	"crypto/md5"
	"fmt"
	"hash"
	"io"

	"cairn/cas"
	"cairn/daemon/cluster"
	"cairn/raftfsm"
)

// Stored is content stored in this node's chunk store and on a write
// quorum of nodes, that nothing references yet: an object until its
// PutObject commits, a part until its PutPart does.
type Stored struct {
	File     raftfsm.File
	ETag     string // quoted hex MD5 of the content
	NewBytes int64  // bytes of chunks new to this node
}

// StoreContent stores r, which must hold length bytes (-1: unknown) and
// at most limit, syncs it (at most MaxUploads at once, within
// UploadMemory), calls finish (which may refuse it, for example
// when a trailing checksum did not verify), and replicates it to a write
// quorum. Objects and parts of every surface are stored this way, then
// committed by their own command.
//
// bodyMD5, if not nil, gives the MD5 of a body that computes its own (an
// S3 body does) once it has been read, so that it is not computed twice.
func (n *Node) StoreContent(ctx context.Context, r io.Reader, length, limit int64, bodyMD5 func() []byte, finish func() error) (Stored, error) {
	if length > limit {
		return Stored{}, fmt.Errorf("%w: %d bytes, above %d", ErrTooLarge, length, limit)
	}
	if n.uploads != nil {
		select {
		case n.uploads <- struct{}{}:
			defer func() { <-n.uploads }()
		default:
			return Stored{}, fmt.Errorf("%w: %d at once", ErrSlowDown, cap(n.uploads))
		}
	}
	if n.window != nil {
		held, err := n.window.acquire(ctx, n.store.PutMemory(length), n.cfg.UploadWait)
		if err != nil {
			return Stored{}, err
		}
		defer n.window.release(held)
	}
	body := &countingReader{r: r, limit: limit}
	var sum hash.Hash
	if bodyMD5 == nil {
		sum = md5.New()
		bodyMD5 = func() []byte { return sum.Sum(nil) }
	}
	res, pp, err := n.storeChunks(ctx, body, sum)
	if err != nil {
		return Stored{}, fmt.Errorf("store: %w", err)
	}
	if length >= 0 && body.n != length {
		return Stored{}, fmt.Errorf("%w: got %d of %d bytes", ErrShortBody, body.n, length)
	}
	if finish != nil {
		if err := finish(); err != nil {
			return Stored{}, err
		}
	}
	if len(res.Recipe) > raftfsm.MaxChunksPerFile {
		return Stored{}, fmt.Errorf("%w: %d chunks", ErrTooLarge, len(res.Recipe))
	}
	etag := bodyMD5()
	if len(etag) != md5.Size {
		return Stored{}, fmt.Errorf("store: the body has no MD5")
	}
	if err := n.replicate(ctx, res.Digest, res.Recipe, pp); err != nil {
		return Stored{}, err
	}
	return Stored{
		File:     raftfsm.File{Digest: res.Digest, Size: res.Size, Recipe: res.Recipe},
		ETag:     md5ETag(etag),
		NewBytes: res.NewBytes,
	}, nil
}

// storeChunks stores r in this node's chunk store, pushing its new chunks
// to the peers as they are committed (see prePush). The prePush it
// returns, nil on a single node, goes to replicate; its senders are done
// with the queue but may still be sending.
//
// hash, if not nil, is written the content in order (see cas.PutOptions).
func (n *Node) storeChunks(ctx context.Context, r io.Reader, hash io.Writer) (cas.PutResult, *prePush, error) {
	opts := cas.PutOptions{Hash: hash}
	pp := newPrePush(ctx, n)
	if pp == nil {
		res, err := n.store.PutWith(ctx, r, opts)
		return res, nil, err
	}
	defer pp.close()
	opts.Committed = pp.committed
	res, err := n.store.PutWith(ctx, r, opts)
	return res, pp, err
}

// PutChunks stores a batch of chunks a client uploads (POST /v1/chunks, in
// chunk's batch format, each chunk raw or in any stored form), checking
// each against its digest, with one sync. The body takes its length of
// the upload memory while it is held. It returns how many chunks were new.
func (n *Node) PutChunks(ctx context.Context, body io.Reader, length int64) (int, error) {
	if length < 0 {
		return 0, fmt.Errorf("%w: a chunk batch needs its Content-Length", ErrShortBody)
	}
	if length > cluster.MaxBatchBody {
		return 0, fmt.Errorf("%w: chunk batch of %d bytes, above %d", ErrTooLarge, length, cluster.MaxBatchBody)
	}
	if n.window != nil {
		held, err := n.window.acquire(ctx, length, n.cfg.UploadWait)
		if err != nil {
			return 0, err
		}
		defer n.window.release(held)
	}
	cs, err := cluster.DecodeBatch(io.LimitReader(body, length), cluster.MaxStored(n.store.Params().MaxSize))
	if err != nil {
		return 0, err
	}
	return n.store.PutStoredBatch(ctx, cs)
}
