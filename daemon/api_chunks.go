package daemon

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/client"
	"cairn/raftfsm"
)

// maxMissingBatch bounds one missing-chunks question.
const maxMissingBatch = raftfsm.MaxChunksPerFile

// apiChunks serves POST chunks/missing, PUT|GET|HEAD chunks/{digest}.
func (s *Server) apiChunks(w http.ResponseWriter, r *http.Request, rest string) {
	ctx := r.Context()
	if rest == "missing" {
		if r.Method != http.MethodPost {
			writeJSONError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST"))
			return
		}
		var req client.MissingRequest
		if err := decodeJSON(r, &req); err != nil {
			writeJSONError(w, err)
			return
		}
		if len(req.Digests) > maxMissingBatch {
			writeJSONError(w, badRequest("InvalidRequest", "at most %d digests per question", maxMissingBatch))
			return
		}
		missing, err := s.store.Missing(ctx, req.Digests)
		if err != nil {
			writeJSONError(w, err)
			return
		}
		// "Not missing" must mean "on disk": a peer counts this answer as
		// a copy toward the write quorum, and a chunk another writer
		// stored a moment ago may still wait for that writer's sync.
		if len(missing) < len(req.Digests) {
			if err := s.store.SyncWrites(); err != nil {
				writeJSONError(w, err)
				return
			}
		}
		if missing == nil {
			missing = []chunk.Digest{}
		}
		writeJSON(w, http.StatusOK, client.MissingResult{Missing: missing})
		return
	}
	d, err := chunk.ParseDigest(rest)
	if err != nil {
		writeJSONError(w, badRequest("InvalidDigest", "%v", err))
		return
	}
	switch r.Method {
	case http.MethodPut:
		max := int64(s.store.Params().MaxSize)
		if r.ContentLength > max {
			writeJSONError(w, fmt.Errorf("%w: chunk of %d bytes", cas.ErrTooLarge, r.ContentLength))
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = fmt.Errorf("%w: chunk over %d bytes", cas.ErrTooLarge, max)
			} else {
				err = fmt.Errorf("%w: %v", errShortBody, err)
			}
			writeJSONError(w, err)
			return
		}
		added, err := s.store.PutChunk(ctx, d, b)
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, client.ChunkPutResult{Digest: d, Added: added})
	case http.MethodGet, http.MethodHead:
		b, err := s.chunk(ctx, d)
		if err != nil {
			writeJSONError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("X-Cairn-Digest", d.String())
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	default:
		writeJSONError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed on a chunk", r.Method))
	}
}

// apiCommit makes a key point to a file the client chunked and uploaded.
// Every chunk must be present; the whole content is read back to check
// the file digest (and to compute the MD5 ETag) before anything is
// committed.
func (s *Server) apiCommit(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if r.Method != http.MethodPost {
		writeJSONError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST"))
		return
	}
	var req client.CommitRequest
	if err := decodeJSON(r, &req); err != nil {
		writeJSONError(w, err)
		return
	}
	res, err := s.commit(r, bucket, key, req)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, client.PutResult{Object: wireObject(res.Object), Chunks: res.Chunks})
}

func (s *Server) commit(r *http.Request, bucket, key string, req client.CommitRequest) (putResult, error) {
	ctx := r.Context()
	if err := checkKey(key); err != nil {
		return putResult{}, err
	}
	recipe := chunk.Recipe(req.Chunks)
	if len(recipe) > raftfsm.MaxChunksPerFile {
		return putResult{}, fmt.Errorf("%w: %d chunks", errTooLarge, len(recipe))
	}
	for _, c := range recipe {
		if c.Size == 0 || int(c.Size) > s.store.Params().MaxSize {
			return putResult{}, badRequest("InvalidRequest", "chunk %s has size %d", c.Digest.Short(), c.Size)
		}
	}
	if recipe.Size() != req.Size {
		return putResult{}, badRequest("InvalidRequest", "chunks add up to %d bytes, size is %d", recipe.Size(), req.Size)
	}
	if err := s.checkBucket(ctx, bucket); err != nil {
		return putResult{}, err
	}
	missing, err := s.store.Missing(ctx, recipe.Distinct())
	if err != nil {
		return putResult{}, err
	}
	if len(missing) > 0 {
		return putResult{}, requestErr(http.StatusBadRequest, "MissingChunks", "%d chunks are not uploaded, the first %s", len(missing), missing[0])
	}
	// The chunks are all here; those that a concurrent writer stored may
	// still wait for its sync, and this node counts as a copy of them.
	if err := s.store.SyncWrites(); err != nil {
		return putResult{}, err
	}
	etag, known := s.knownFile(req.Digest, recipe)
	var mlmodel []byte
	isModel := path.Base(key) == "MLmodel"
	if !known || isModel {
		// Read the content back: to check that the chunks hash to the
		// digest, to compute the MD5 ETag, and to parse an MLmodel.
		h, sum := chunk.NewHasher(), md5.New()
		rd := s.store.Open(ctx, recipe)
		_, err = io.Copy(io.MultiWriter(h, sum, &cappedWriter{w: (*byteSink)(&mlmodel), n: MaxMLmodelSize + 1}), rd)
		rd.Close()
		if err != nil {
			return putResult{}, err
		}
		if h.Digest() != req.Digest {
			return putResult{}, badRequest("BadDigest", "the chunks hash to %s, not %s", h.Digest(), req.Digest)
		}
		etag = `"` + hex.EncodeToString(sum.Sum(nil)) + `"`
	}
	var model *raftfsm.Model
	if isModel {
		model = parseModel(mlmodel)
	}
	if err := s.replicate(ctx, recipe, nil); err != nil {
		return putResult{}, err
	}
	res, err := s.propose(ctx, &raftfsm.PutObject{
		Bucket: bucket, Key: key,
		File: raftfsm.File{Digest: req.Digest, Size: req.Size, Recipe: recipe},
		Meta: raftfsm.ObjectMeta{ContentType: req.ContentType, User: req.Meta, ETag: etag},
		Time: s.cfg.Now().UnixNano(), Model: model,
		Conditions: raftfsm.Conditions{IfMatch: req.IfMatch, IfNoneMatch: req.IfNoneMatch},
	})
	if err != nil {
		return putResult{}, err
	}
	return putResult{Object: *res.Object, Chunks: len(recipe)}, nil
}

// knownFile reports whether the state already holds this exact file:
// the same digest with the same recipe. Its digest was verified when it
// was first committed, so a commit of it needs only the chunks present;
// the MD5 ETag comes from a single-part object of the same content.
func (s *Server) knownFile(d chunk.Digest, recipe chunk.Recipe) (string, bool) {
	rec, err := s.node.State().File(d)
	if err != nil || !slices.Equal(rec.Recipe, recipe) {
		return "", false
	}
	uses, err := s.node.State().FileUses(d, 16)
	if err != nil {
		return "", false
	}
	for _, u := range uses {
		if o, _, err := s.node.State().Object(u.Bucket, u.Key); err == nil && o.Meta.Parts == 0 && o.Digest == d {
			return o.Meta.ETag, true
		}
	}
	return "", false
}

type byteSink []byte

func (b *byteSink) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// chunk returns a verified chunk from this node, or from a peer (and
// keeps it) when this node lacks it.
func (s *Server) chunk(ctx context.Context, d chunk.Digest) ([]byte, error) {
	b, err := s.store.GetChunk(ctx, d)
	if !errors.Is(err, cas.ErrNotFound) {
		return b, err
	}
	if err := s.fetchFromPeers(ctx, []chunk.Digest{d}); err != nil {
		return nil, err
	}
	return s.store.GetChunk(ctx, d)
}
