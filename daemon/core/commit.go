package core

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"cairn/cas/chunk"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/mlmodel"
	"cairn/raftfsm"
)

// CommitRequest makes a key point to a file whose chunks the client cut,
// hashed and uploaded itself.
type CommitRequest struct {
	Bucket, Key string
	Digest      chunk.Digest // of the whole file
	Size        int64
	Recipe      chunk.Recipe
	// Stored names a file the state already holds, by Digest and Size,
	// with no Recipe: the commit takes the state's recipe of that file,
	// so a client that logs content again hashes it once and sends no
	// chunk list. NoSuchFile if the state holds no such file.
	Stored     bool
	Meta       raftfsm.ObjectMeta
	Conditions raftfsm.Conditions
}

// Commit commits a file the client chunked and uploaded. Every chunk must
// be present; unless the state already holds this exact file, the whole
// content is read back to check the file digest before anything is
// committed. The MD5 ETag is computed in the same read, or, once the
// cluster has FeatureLateETag, after the acknowledgement (ETags).
func (n *Node) Commit(ctx context.Context, req CommitRequest) (PutResult, error) {
	if err := n.checkCommit(&req); err != nil {
		return PutResult{}, err
	}
	if err := n.checkBucket(ctx, req.Bucket); err != nil {
		return PutResult{}, err
	}
	if err := n.checkChunks(ctx, req.Recipe.Distinct()); err != nil {
		return PutResult{}, err
	}
	cmd, err := n.commitCommand(ctx, req)
	if err != nil {
		return PutResult{}, err
	}
	if err := n.replicate(ctx, req.Digest, req.Recipe, nil); err != nil {
		return PutResult{}, err
	}
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{Object: *res.Object, Chunks: len(req.Recipe)}, nil
}

// checkCommit checks what a commit says of itself: its key, and a recipe
// of chunks of sizes this store cuts that add up to the file's size. It
// fills in the recipe of a commit of a stored file.
func (n *Node) checkCommit(req *CommitRequest) error {
	if err := CheckKey(req.Key); err != nil {
		return err
	}
	if req.Stored {
		if len(req.Recipe) > 0 {
			return apierr.BadRequest("InvalidRequest", "a commit of a stored file lists no chunks")
		}
		rec, err := n.State().File(req.Digest)
		if err != nil && !errors.Is(err, raftfsm.ErrNotFound) {
			return err
		}
		if err != nil || rec.Size != req.Size || len(rec.Recipe) == 0 {
			return apierr.New(http.StatusNotFound, "NoSuchFile", "no file %s of %d bytes is stored", req.Digest, req.Size)
		}
		req.Recipe = rec.Recipe
	}
	recipe := req.Recipe
	if len(recipe) > raftfsm.MaxChunksPerFile {
		return fmt.Errorf("%w: %d chunks", ErrTooLarge, len(recipe))
	}
	for _, c := range recipe {
		if c.Size == 0 || int(c.Size) > n.store.Params().MaxSize {
			return apierr.BadRequest("InvalidRequest", "chunk %s has size %d", c.Digest.Short(), c.Size)
		}
	}
	if recipe.Size() != req.Size {
		return apierr.BadRequest("InvalidRequest", "chunks add up to %d bytes, size is %d", recipe.Size(), req.Size)
	}
	return nil
}

// checkChunks fails with MissingChunks unless every chunk of ds is here,
// and waits for the sync of those a concurrent writer stored: this node
// counts as a copy of them.
func (n *Node) checkChunks(ctx context.Context, ds []chunk.Digest) error {
	missing, err := n.Lacks(ctx, ds)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return apierr.New(http.StatusBadRequest, "MissingChunks", "%d chunks are not uploaded, the first %s", len(missing), missing[0])
	}
	return n.store.SyncWrites()
}

// commitCommand is the PutObject of a checked commit whose chunks are all
// here. Unless the state already holds this exact file, it reads the
// content back to check the file digest, compute the MD5 ETag (unless
// that is left for later) and parse an MLmodel.
func (n *Node) commitCommand(ctx context.Context, req CommitRequest) (*raftfsm.PutObject, error) {
	recipe := req.Recipe
	// Once the whole cluster can fill an ETag in later, the MD5 is left
	// for after the acknowledgement (ETags), except for an MLmodel, which
	// is read back here anyway, to be parsed.
	isModel := IsMLmodel(req.Key)
	late := !isModel && n.etags.Late()
	etag, known := n.knownFile(req.Digest, recipe)
	if known && etag == "" && !late {
		known = false
	}
	var head []byte
	if !known || isModel {
		// Read the content back: to check that the chunks hash to the
		// digest, to compute the MD5 ETag, and to parse an MLmodel
		// (chunks only the cold tier holds come back for it).
		if err := n.EnsureLocal(ctx, recipe); err != nil {
			return nil, err
		}
		h, sum := chunk.NewHasher(), md5.New()
		ws := []io.Writer{h, &cappedWriter{w: (*byteSink)(&head), n: mlmodel.MaxSize + 1}}
		if !late {
			ws = append(ws, sum)
		}
		if err := n.store.ReadBack(ctx, recipe, io.MultiWriter(ws...)); err != nil {
			return nil, err
		}
		if h.Digest() != req.Digest {
			// Each chunk was verified when it was stored; read them
			// again verified, to tell one gone bad since from a file
			// digest that is wrong.
			rd := n.store.Open(ctx, recipe)
			_, err := io.Copy(io.Discard, rd)
			rd.Close()
			if err != nil {
				return nil, err
			}
			return nil, apierr.BadRequest("BadDigest", "the chunks hash to %s, not %s", h.Digest(), req.Digest)
		}
		etag = ""
		if !late {
			etag = md5ETag(sum.Sum(nil))
		}
	}
	meta := req.Meta
	meta.ETag = etag
	cmd := &raftfsm.PutObject{
		Bucket: req.Bucket, Key: req.Key,
		File: raftfsm.File{Digest: req.Digest, Size: req.Size, Recipe: recipe},
		Meta: meta, Time: n.Now().UnixNano(), Conditions: req.Conditions,
	}
	if isModel {
		cmd.Model = mlmodel.Index(head)
	}
	return cmd, nil
}

// knownFile reports whether the state already holds this exact file:
// the same digest with the same recipe. Its digest was verified when it
// was first committed, so a commit of it needs only the chunks present;
// the MD5 ETag is the one remembered for the file (ETags), or that of a
// single-part object of the same content, and is empty if those objects
// all wait for theirs.
func (n *Node) knownFile(d chunk.Digest, recipe chunk.Recipe) (string, bool) {
	st := n.State()
	rec, err := st.File(d)
	if err != nil || !slices.Equal(rec.Recipe, recipe) {
		return "", false
	}
	if etag, ok := n.etags.remembered(d); ok {
		return etag, true
	}
	uses, err := st.FileUses(d, 16)
	if err != nil {
		return "", false
	}
	known := false
	for _, u := range uses {
		if o, _, err := st.Object(u.Bucket, u.Key); err == nil && o.Meta.Parts == 0 && o.Digest == d {
			if o.Meta.ETag != "" {
				n.etags.remember(d, o.Meta.ETag)
				return o.Meta.ETag, true
			}
			known = true
		}
	}
	return "", known
}

type byteSink []byte

func (b *byteSink) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
