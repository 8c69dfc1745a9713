package nativeapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/cluster"
	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/raftfsm"
)

// chunks serves POST chunks/missing, POST chunks (a batch), PUT|GET|HEAD
// chunks/{digest}: what a client that chunks on its side uploads before
// it commits.
func (a *API) chunks(w http.ResponseWriter, r *http.Request, rest string) error {
	ctx := r.Context()
	store := a.node.Store()
	if rest == "" {
		if r.Method != http.MethodPost {
			return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST to upload a batch of chunks")
		}
		added, err := a.node.PutChunks(ctx, http.MaxBytesReader(w, r.Body, cluster.MaxBatchBody), r.ContentLength)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, client.ChunkBatchResult{Added: added})
		return nil
	}
	if rest == "missing" {
		ds, err := postedDigests(r, cluster.MaxAsk, "question")
		if err != nil {
			return err
		}
		// Chunks the cold tier holds are not missing: the commit reads
		// them back from there when it must.
		missing, err := a.node.Lacks(ctx, ds)
		if err != nil {
			return err
		}
		// "Not missing" must mean "on disk" (here or in the cold tier): the client will commit
		// without sending them, and a chunk another writer stored a
		// moment ago may still wait for that writer's sync.
		if len(missing) < len(ds) {
			if err := store.SyncWrites(); err != nil {
				return err
			}
		}
		if missing == nil {
			missing = []chunk.Digest{}
		}
		httpx.WriteJSON(w, http.StatusOK, client.MissingResult{Missing: missing})
		return nil
	}
	if rest == "fetch" {
		return a.fetchChunks(w, r)
	}
	d, err := chunk.ParseDigest(rest)
	if err != nil {
		return apierr.BadRequest("InvalidDigest", "%v", err)
	}
	switch r.Method {
	case http.MethodPut:
		max := int64(store.Params().MaxSize)
		if r.ContentLength > max {
			return fmt.Errorf("%w: chunk of %d bytes", cas.ErrTooLarge, r.ContentLength)
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return fmt.Errorf("%w: chunk over %d bytes", cas.ErrTooLarge, max)
			}
			return fmt.Errorf("%w: %v", core.ErrShortBody, err)
		}
		added, err := store.PutChunk(ctx, d, b)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, client.ChunkPutResult{Digest: d, Added: added})
	case http.MethodGet, http.MethodHead:
		b, err := a.node.Chunk(ctx, d)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("X-Cairn-Digest", d.String())
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	default:
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed on a chunk", r.Method)
	}
	return nil
}

// fetchChunks serves POST chunks/fetch: the chunks listed, in the order
// asked, raw and verified, in chunk's batch format, fetched from a peer
// where this node lacks one, up to about cluster.BatchBytes; an answer
// that stops short names in its Cairn-Truncated header how many it
// holds, and the client asks again for the rest.
func (a *API) fetchChunks(w http.ResponseWriter, r *http.Request) error {
	ds, err := postedDigests(r, client.MaxFetchBatch, "fetch")
	if err != nil {
		return err
	}
	// The chunks are gathered first, then written one by one after their
	// entry's header: the answer needs its length before it starts, and
	// copying them into one body cost the node an eighth of its time in
	// a client's download (the copies as it grew).
	var chunks [][]byte
	var hdr []byte
	size := 0
	for i, d := range ds {
		if size >= cluster.BatchBytes {
			w.Header().Set(client.HeaderTruncated, strconv.Itoa(i))
			break
		}
		b, err := a.node.Chunk(r.Context(), d)
		if err != nil {
			return err
		}
		chunks = append(chunks, b)
		hdr = chunk.AppendBatchHeader(hdr[:0], d, 1+len(b))
		size += len(hdr) + 1 + len(b) // the header, the form byte, the chunk
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	for i, b := range chunks {
		hdr = chunk.AppendBatchHeader(hdr[:0], ds[i], 1+len(b))
		hdr = append(hdr, chunk.RawForm)
		if _, err := w.Write(hdr); err != nil {
			return nil // the client went away; nothing to answer
		}
		if _, err := w.Write(b); err != nil {
			return nil
		}
	}
	return nil
}

// commit makes a key point to a file the client chunked and uploaded (see
// core.Node.Commit).
func (a *API) commit(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if r.Method != http.MethodPost {
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
	}
	var req client.CommitRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	res, err := a.node.Commit(r.Context(), core.CommitRequest{
		Bucket: bucket, Key: key, Digest: req.Digest, Size: req.Size, Recipe: chunk.Recipe(req.Chunks),
		Meta:       raftfsm.ObjectMeta{ContentType: req.ContentType, User: req.Meta},
		Conditions: raftfsm.Conditions{IfMatch: req.IfMatch, IfNoneMatch: req.IfNoneMatch},
	})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, client.PutResult{Object: wireObject(res.Object), Chunks: res.Chunks})
	return nil
}

// postedDigests reads the digests of a POSTed client.MissingRequest, at
// most limit of them (limit and what name the route's cap in the error).
func postedDigests(r *http.Request, limit int, what string) ([]chunk.Digest, error) {
	if r.Method != http.MethodPost {
		return nil, apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
	}
	var req client.MissingRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.Digests) > limit {
		return nil, apierr.BadRequest("InvalidRequest", "at most %d digests per %s", limit, what)
	}
	return req.Digests, nil
}
