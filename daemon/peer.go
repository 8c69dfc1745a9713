package daemon

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/client"
	"cairn/raftfsm"
)

// The peer API runs on the cluster port, behind the cluster secret:
//
//	POST /peer/apply            a follower's command, applied by the leader
//	GET  /peer/index            the leader's commit index, for read barriers
//	POST /peer/missing          which of these chunks this node lacks
//	POST /peer/chunks           store a batch of chunks (verified, one sync)
//	POST /peer/fetch            a batch of the listed chunks this node holds
//	PUT  /peer/chunks/{digest}  store a chunk (verified, synced)
//	GET  /peer/chunks/{digest}  a verified chunk (what nodes before /peer/fetch ask)
//	POST /peer/join             add the caller as a voter (on the leader)
type peerClient struct {
	secret string
	http   *http.Client
}

func newPeerClient(secret string, d clusterDialer) *peerClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return d.dial(ctx, addr, protoPeer)
		},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     time.Minute,
	}
	return &peerClient{secret: secret, http: &http.Client{Transport: tr}}
}

// do sends a request to a node's cluster address and decodes a JSON
// answer into out (when not nil); non-2xx answers become errors rebuilt
// from their code.
func (p *peerClient) do(ctx context.Context, method, addr, path string, body io.Reader, out any) error {
	resp, err := p.send(ctx, method, addr, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if b, ok := out.(*[]byte); ok {
		*b, err = io.ReadAll(io.LimitReader(resp.Body, 2*int64(chunk.DefaultMaxSize)))
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send sends a request to a node's cluster address and returns a 2xx
// answer for the caller to read and close; other answers become errors
// rebuilt from their code.
func (p *peerClient) send(ctx context.Context, method, addr, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.secret)
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer %s %s: %w", addr, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e client.Error
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return nil, peerError(resp.StatusCode, e)
	}
	return resp, nil
}

// peerError rebuilds the sentinel a peer's error answer stands for.
func peerError(status int, e client.Error) error {
	if err := raftfsm.FromCode(e.Code, e.Message); raftfsm.Code(err) != "" {
		return err
	}
	switch e.Code {
	case "NoSuchChunk":
		return fmt.Errorf("%w: %s", cas.ErrNotFound, e.Message)
	case "BadDigest":
		return fmt.Errorf("%w: %s", cas.ErrDigestMismatch, e.Message)
	case "NoSuchRoute":
		return fmt.Errorf("%w: %s", errNoPeerRoute, e.Message)
	}
	return fmt.Errorf("peer answered %d %s: %s", status, e.Code, e.Message)
}

// peerHandler serves the peer API.
func (s *Server) peerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.cfg.ClusterSecret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.ClusterSecret)) != 1 {
			writeJSONError(w, requestErr(http.StatusUnauthorized, "Unauthorized", "wrong cluster secret"))
			return
		}
		p := r.URL.Path
		switch {
		case p == "/peer/apply" && r.Method == http.MethodPost:
			s.peerApply(w, r)
		case p == "/peer/index" && r.Method == http.MethodGet:
			s.peerIndex(w, r)
		case p == "/peer/chunks" && r.Method == http.MethodPost:
			s.peerPutBatch(w, r)
		case p == "/peer/fetch" && r.Method == http.MethodPost:
			s.peerFetch(w, r)
		case p == "/peer/missing" && r.Method == http.MethodPost:
			s.apiChunks(w, r, "missing")
		case strings.HasPrefix(p, "/peer/chunks/"):
			s.peerChunk(w, r, strings.TrimPrefix(p, "/peer/chunks/"))
		case (p == "/peer/join" || p == "/peer/remove") && r.Method == http.MethodPost:
			s.peerJoin(w, r)
		case p == "/peer/status" && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, s.selfStatus())
		default:
			writeJSONError(w, requestErr(http.StatusNotFound, "NoSuchRoute", "no peer route %s %s", r.Method, p))
		}
	})
}

// applyResult carries a Result between nodes.
type applyResult struct {
	Index   uint64          `json:"index"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Object  *raftfsm.Object `json:"object,omitempty"`
	Bucket  *raftfsm.Bucket `json:"bucket,omitempty"`
	Ref     *raftfsm.Ref    `json:"ref,omitempty"`
	Upload  *raftfsm.Upload `json:"upload,omitempty"`
	Deleted int             `json:"deleted,omitempty"`
	More    bool            `json:"more,omitempty"`
}

func (s *Server) peerApply(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		writeJSONError(w, badRequest("InvalidRequest", "read command: %v", err))
		return
	}
	res, err := s.node.ApplyEncoded(r.Context(), b)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	out := applyResult{Index: res.Index, Object: res.Object, Bucket: res.Bucket, Ref: res.Ref, Upload: res.Upload, Deleted: res.Deleted, More: res.More}
	if res.Err != nil {
		out.Code, out.Message = raftfsm.Code(res.Err), res.Err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// forward sends a command to the leader and returns its result. Failing
// to reach the leader before sending is "not written"; failing after is
// an unknown outcome.
func (s *Server) forward(ctx context.Context, c raftfsm.Command) (raftfsm.Result, error) {
	b, err := raftfsm.Encode(c)
	if err != nil {
		return raftfsm.Result{}, err
	}
	var lastErr error = errNoLeader
	for attempt := 0; attempt < 20; attempt++ {
		_, addr := s.node.Leader()
		if addr == "" || addr == s.RaftAddr() {
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return raftfsm.Result{}, fmt.Errorf("%w: %v", errNoLeader, lastErr)
			}
			continue
		}
		var out applyResult
		err := s.peers.do(ctx, http.MethodPost, addr, "/peer/apply", bytes.NewReader(b), &out)
		if errors.Is(err, raftfsm.ErrNotLeader) {
			lastErr = err
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return raftfsm.Result{}, err
			}
			continue
		}
		if err != nil {
			if isDialError(err) {
				lastErr = err
				if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
					return raftfsm.Result{}, fmt.Errorf("%w: %v", errNoLeader, lastErr)
				}
				continue
			}
			if raftfsm.Code(err) != "" {
				return raftfsm.Result{}, err
			}
			return raftfsm.Result{}, fmt.Errorf("%w: forward to %s: %v", raftfsm.ErrUnknownOutcome, addr, err)
		}
		res := raftfsm.Result{Index: out.Index, Object: out.Object, Bucket: out.Bucket, Ref: out.Ref, Upload: out.Upload, Deleted: out.Deleted, More: out.More}
		if out.Code != "" {
			res.Err = raftfsm.FromCode(out.Code, out.Message)
		}
		return res, nil
	}
	return raftfsm.Result{}, fmt.Errorf("%w: %v", errNoLeader, lastErr)
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) peerIndex(w http.ResponseWriter, r *http.Request) {
	if err := s.node.Barrier(r.Context()); err != nil {
		writeJSONError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"index": s.node.State().Applied()})
}

// leaderIndex asks the leader for an index that covers every write it
// acknowledged.
func (s *Server) leaderIndex(ctx context.Context) (uint64, error) {
	_, addr := s.node.Leader()
	if addr == "" {
		return 0, errNoLeader
	}
	var out map[string]uint64
	if err := s.peers.do(ctx, http.MethodGet, addr, "/peer/index", nil, &out); err != nil {
		return 0, err
	}
	return out["index"], nil
}

// peerChunk serves PUT and GET of a chunk between nodes. Chunks travel in
// their stored form (compressed by the node that took the write) and the
// receiver checks them by decoding and hashing, so that a chunk is
// compressed once per cluster, not once per node.
func (s *Server) peerChunk(w http.ResponseWriter, r *http.Request, hex string) {
	d, err := chunk.ParseDigest(hex)
	if err != nil {
		writeJSONError(w, badRequest("InvalidDigest", "%v", err))
		return
	}
	switch r.Method {
	case http.MethodPut:
		limit := int64(s.store.Params().MaxSize) + int64(s.store.Params().MaxSize)/255 + 128
		v, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			writeJSONError(w, fmt.Errorf("%w: %v", errShortBody, err))
			return
		}
		added, err := s.store.PutStored(r.Context(), d, v)
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, client.ChunkPutResult{Digest: d, Added: added})
	case http.MethodGet:
		v, err := s.store.GetStored(r.Context(), d)
		if err != nil {
			writeJSONError(w, err)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(v)))
		w.Write(v)
	default:
		writeJSONError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s", r.Method))
	}
}

func jsonBody(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	return bytes.NewReader(b), err
}
