package cluster

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/internal/metrics"
	"cairn/raftfsm"
)

// MaxAsk bounds the digests of one missing-chunks question or fetch.
const MaxAsk = raftfsm.MaxChunksPerFile

// Server answers the peer protocol on connections the Mux authenticated.
// Its fields are set before it serves.
type Server struct {
	Store   *cas.Store
	Node    *raftfsm.Node
	Members *Membership
	// Metrics, if set, counts and times the requests (surface "peer").
	Metrics *metrics.Metrics
}

// ServeHTTP routes a peer request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := httpx.NewRecorder(w)
	if err := s.route(rec, r); err != nil {
		writeError(rec, err)
	}
	if s.Metrics != nil {
		s.Metrics.Request("peer", peerOperation(r), r.Method, rec.Status, time.Since(start), rec.Bytes)
	}
}

// peerOperation names a peer request for the metrics: apply, index,
// chunks, fetch, missing (a writer's question), gc_missing (GC's), chunk,
// join, remove.
func peerOperation(r *http.Request) string {
	op := strings.TrimPrefix(r.URL.Path, "/peer/")
	if strings.HasPrefix(op, "chunks/") {
		return "chunk"
	}
	if op == "missing" && r.URL.Query().Get("peek") == "1" {
		return "gc_missing"
	}
	switch op {
	case "apply", "index", "chunks", "fetch", "missing", "join", "remove":
		return op
	}
	return "other"
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Path
	switch {
	case p == "/peer/apply" && r.Method == http.MethodPost:
		return s.apply(w, r)
	case p == "/peer/index" && r.Method == http.MethodGet:
		if err := s.Node.Barrier(r.Context()); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]uint64{"index": s.Node.State().Applied()})
	case p == "/peer/chunks" && r.Method == http.MethodPost:
		return s.putBatch(w, r)
	case p == "/peer/fetch" && r.Method == http.MethodPost:
		return s.fetch(w, r)
	case p == "/peer/missing" && r.Method == http.MethodPost:
		return s.missing(w, r)
	case strings.HasPrefix(p, "/peer/chunks/"):
		return s.chunk(w, r, strings.TrimPrefix(p, "/peer/chunks/"))
	case (p == "/peer/join" || p == "/peer/remove") && r.Method == http.MethodPost:
		var req client.JoinRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		if err := s.Members.Change(r.Context(), strings.TrimPrefix(p, "/peer/"), req); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, struct{}{})
	case p == "/peer/status" && r.Method == http.MethodGet:
		httpx.WriteJSON(w, http.StatusOK, s.Members.Self())
	default:
		return fmt.Errorf("%w: %s %s", ErrNoRoute, r.Method, p)
	}
	return nil
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxJSONBody))
	if err != nil {
		return apierr.BadRequest("InvalidRequest", "read command: %v", err)
	}
	res, err := s.Node.ApplyEncoded(r.Context(), b)
	if err != nil {
		return err
	}
	out := applyResult{Index: res.Index, Object: res.Object, Objects: res.Objects, Bucket: res.Bucket, Ref: res.Ref, Upload: res.Upload, Key: res.Key, Deleted: res.Deleted, More: res.More}
	if res.Err != nil {
		out.Code, out.Message = raftfsm.Code(res.Err), res.Err.Error()
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// missing answers which of the listed chunks this node lacks. "Not
// missing" must mean "on disk": the asker counts this answer as a copy
// toward its write quorum, and a chunk another writer stored a moment ago
// may still wait for that writer's sync.
func (s *Server) missing(w http.ResponseWriter, r *http.Request) error {
	var req client.MissingRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.Digests) > MaxAsk {
		return apierr.BadRequest("InvalidRequest", "at most %d digests per question", MaxAsk)
	}
	look := s.Store.Missing
	if r.URL.Query().Get("peek") == "1" {
		// GC's question: the answer must not keep the chunks alive.
		look = s.Store.Lacks
	}
	missing, err := look(r.Context(), req.Digests)
	if err != nil {
		return err
	}
	if len(missing) < len(req.Digests) {
		if err := s.Store.SyncWrites(); err != nil {
			return err
		}
	}
	if missing == nil {
		missing = []chunk.Digest{}
	}
	httpx.WriteJSON(w, http.StatusOK, client.MissingResult{Missing: missing})
	return nil
}

func (s *Server) putBatch(w http.ResponseWriter, r *http.Request) error {
	cs, err := DecodeBatch(http.MaxBytesReader(w, r.Body, MaxBatchBody), MaxStored(s.Store.Params().MaxSize))
	if err != nil {
		return err
	}
	n, err := s.Store.PutStoredBatch(r.Context(), cs)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]int{"added": n})
	return nil
}

// fetch answers the listed chunks this node holds, in the order asked, as
// one batch of at most about BatchBytes. The ones it lacks are left out;
// when the batch fills up first, the answer says so and the asker asks
// again for the rest.
func (s *Server) fetch(w http.ResponseWriter, r *http.Request) error {
	var req client.MissingRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.Digests) > MaxAsk {
		return apierr.BadRequest("InvalidRequest", "fetch: %d digests, at most %d", len(req.Digests), MaxAsk)
	}
	var batch []cas.StoredChunk
	size := 0
	for i, d := range req.Digests {
		if size >= BatchBytes {
			w.Header().Set(headerTruncated, strconv.Itoa(i))
			break
		}
		v, err := s.Store.GetStored(r.Context(), d, cas.ForPeer)
		if err == nil {
			v, err = s.formFor(r, d, v)
		}
		if errors.Is(err, cas.ErrNotFound) || errors.Is(err, cas.ErrCorrupt) {
			continue // the asker gets it from another peer; scrub finds a corrupt one
		}
		if err != nil {
			return err
		}
		batch = append(batch, cas.StoredChunk{Digest: d, Value: v})
		size += len(v)
	}
	body := EncodeBatch(batch)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// chunk serves PUT and GET of one chunk. Chunks travel in their stored
// form (compressed by the node that took the write) and the receiver
// checks them by decoding and hashing, so that a chunk is compressed once
// per cluster, not once per node.
func (s *Server) chunk(w http.ResponseWriter, r *http.Request, hex string) error {
	d, err := chunk.ParseDigest(hex)
	if err != nil {
		return apierr.BadRequest("InvalidDigest", "%v", err)
	}
	switch r.Method {
	case http.MethodPut:
		v, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(MaxStored(s.Store.Params().MaxSize))))
		if err != nil {
			return apierr.BadRequest("IncompleteBody", "read chunk: %v", err)
		}
		added, err := s.Store.PutStored(r.Context(), d, v)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, client.ChunkPutResult{Digest: d, Added: added})
	case http.MethodGet:
		v, err := s.Store.GetStored(r.Context(), d, cas.ForPeer)
		if err == nil {
			v, err = s.formFor(r, d, v)
		}
		if err != nil {
			return err
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(v)))
		w.Write(v)
	default:
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s", r.Method)
	}
	return nil
}
