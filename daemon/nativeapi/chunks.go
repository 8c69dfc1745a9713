package nativeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

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
// asked, verified, in chunk's batch format, fetched from a peer where
// this node lacks one, up to about cluster.BatchBytes; an answer that
// stops short names in its Cairn-Truncated header how many it holds, and
// the client asks again for the rest. A chunk comes raw, or as stored
// when the client names the stored form's codec in its
// Cairn-Accept-Forms header: then the node neither decodes nor verifies
// it, and sends fewer bytes; the client does both.
func (a *API) fetchChunks(w http.ResponseWriter, r *http.Request) error {
	ds, err := postedDigests(r, client.MaxFetchBatch, "fetch")
	if err != nil {
		return err
	}
	accept := acceptedForms(r)
	// The chunks are gathered first, then written one by one after their
	// entry's header: the answer needs its length before it starts, and
	// copying them into one body cost the node an eighth of its time in
	// a client's download (the copies as it grew).
	type entry struct {
		form byte
		b    []byte
	}
	var entries []entry
	var hdr []byte
	size := 0
	for i, d := range ds {
		if size >= cluster.BatchBytes {
			w.Header().Set(client.HeaderTruncated, strconv.Itoa(i))
			break
		}
		form, b, err := a.chunkForm(r.Context(), d, accept)
		if err != nil {
			return err
		}
		entries = append(entries, entry{form, b})
		hdr = chunk.AppendBatchHeader(hdr[:0], d, 1+len(b))
		size += len(hdr) + 1 + len(b) // the header, the form byte, the chunk
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	for i, e := range entries {
		hdr = chunk.AppendBatchHeader(hdr[:0], ds[i], 1+len(e.b))
		hdr = append(hdr, e.form)
		if _, err := w.Write(hdr); err != nil {
			return nil // the client went away; nothing to answer
		}
		if _, err := w.Write(e.b); err != nil {
			return nil
		}
	}
	return nil
}

// acceptedForms returns the stored forms (codec bytes) beside raw that
// the client of r decodes, from its Cairn-Accept-Forms header ("2", or
// "0,2"); a codec this node does not store matches no chunk.
func acceptedForms(r *http.Request) []byte {
	var out []byte
	for _, f := range strings.Split(r.Header.Get(client.HeaderAcceptForms), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			continue
		}
		if n > 0 && n < 256 && !slices.Contains(out, byte(n)) {
			out = append(out, byte(n))
		}
	}
	return out
}

// chunkForm returns chunk d as a client that decodes the forms accept
// (beside raw) takes it: as stored when its codec is one of them,
// otherwise raw and verified, from a peer if this node lacks it.
func (a *API) chunkForm(ctx context.Context, d chunk.Digest, accept []byte) (byte, []byte, error) {
	if len(accept) > 0 {
		v, err := a.node.Store().GetStored(ctx, d, cas.ForReader)
		switch {
		case err == nil && (v[0] == chunk.RawForm || slices.Contains(accept, v[0])):
			return v[0], v[1:], nil
		case err != nil && !errors.Is(err, cas.ErrNotFound) && !errors.Is(err, cas.ErrCorrupt):
			return 0, nil, err
		}
		// Lacking, in a form the client does not read, or unreadable:
		// the node's own read, which fetches or reports it.
	}
	b, err := a.node.Chunk(ctx, d)
	return chunk.RawForm, b, err
}

// commit makes a key point to a file the client chunked and uploaded (see
// core.Node.Commit).
func (a *API) commit(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if r.Method != http.MethodPost {
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
	}
	if bucket == "" {
		return apierr.BadRequest("InvalidRequest", "missing bucket")
	}
	if key == "" {
		return a.commitMany(w, r, bucket)
	}
	var req client.CommitRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	res, err := a.node.Commit(r.Context(), coreCommit(bucket, key, req))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, client.PutResult{Object: wireObject(res.Object), Chunks: res.Chunks})
	return nil
}

// coreCommit is the commit of bucket/key that req asks for.
func coreCommit(bucket, key string, req client.CommitRequest) core.CommitRequest {
	return core.CommitRequest{
		Bucket: bucket, Key: key, Digest: req.Digest, Size: req.Size, Recipe: chunk.Recipe(req.Chunks), Stored: req.Stored,
		Meta:       raftfsm.ObjectMeta{ContentType: req.ContentType, User: req.Meta},
		Conditions: raftfsm.Conditions{IfMatch: req.IfMatch, IfNoneMatch: req.IfNoneMatch},
	}
}

// commitMany commits several files to keys of bucket at once, all or
// none (core.CommitMany).
func (a *API) commitMany(w http.ResponseWriter, r *http.Request, bucket string) error {
	var req client.CommitManyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	reqs := make([]core.CommitRequest, len(req.Objects))
	for i, o := range req.Objects {
		reqs[i] = coreCommit(bucket, o.Key, o.CommitRequest)
	}
	res, err := a.node.CommitMany(r.Context(), bucket, reqs)
	if err != nil {
		return err
	}
	out := client.CommitManyResult{Objects: make([]client.PutResult, len(res))}
	for i, p := range res {
		out.Objects[i] = client.PutResult{Object: wireObject(p.Object), Chunks: p.Chunks}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
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
