package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// NodeStatus is one node as the status route shows it.
type NodeStatus struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	Suffrage     string `json:"suffrage"`
	Role         string `json:"role"`
	Term         uint64 `json:"term"`
	Applied      uint64 `json:"applied"`
	Lag          uint64 `json:"lag"` // entries behind the leader's commit index
	MissingBytes int64  `json:"missing_chunk_bytes"`
	MissingCount int64  `json:"missing_chunks"`
	Error        string `json:"error,omitempty"`
}

// ClusterStatus is the answer of GET /v1/cluster/status.
type ClusterStatus struct {
	Leader string       `json:"leader"`
	Nodes  []NodeStatus `json:"nodes"`
}

// joinRequest asks the cluster to add a node.
type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	Voter    bool   `json:"voter"`
}

func (s *Server) selfStatus() NodeStatus {
	st := s.node.Raft().Stats()
	term, _ := strconv.ParseUint(st["term"], 10, 64)
	commit, _ := strconv.ParseUint(st["commit_index"], 10, 64)
	applied := s.node.State().Applied()
	n := NodeStatus{ID: s.cfg.NodeID, RaftAddr: s.RaftAddr(), Role: s.node.Raft().State().String(), Term: term, Applied: applied,
		MissingBytes: s.metrics.missingBytes.Load(), MissingCount: s.metrics.missingChunks.Load()}
	if commit > applied {
		n.Lag = commit - applied
	}
	return n
}

// clusterStatus asks every member for its status.
func (s *Server) clusterStatus(ctx context.Context) (ClusterStatus, error) {
	f := s.node.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		return ClusterStatus{}, err
	}
	leaderID, _ := s.node.Leader()
	out := ClusterStatus{Leader: leaderID}
	var leaderApplied uint64
	for _, srv := range f.Configuration().Servers {
		var n NodeStatus
		if string(srv.ID) == s.cfg.NodeID {
			n = s.selfStatus()
		} else {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := s.peers.do(cctx, http.MethodGet, string(srv.Address), "/peer/status", nil, &n)
			cancel()
			if err != nil {
				n = NodeStatus{ID: string(srv.ID), Role: "unreachable", Error: err.Error()}
			}
		}
		n.RaftAddr, n.Suffrage = string(srv.Address), srv.Suffrage.String()
		if n.ID == leaderID {
			leaderApplied = n.Applied
		}
		out.Nodes = append(out.Nodes, n)
	}
	for i := range out.Nodes {
		if out.Nodes[i].Error == "" && leaderApplied > out.Nodes[i].Applied {
			out.Nodes[i].Lag = leaderApplied - out.Nodes[i].Applied
		}
	}
	return out, nil
}

// apiCluster serves cluster/status (GET), cluster/join and cluster/remove
// (POST, with the cluster secret as bearer token).
func (s *Server) apiCluster(w http.ResponseWriter, r *http.Request, rest string) {
	switch {
	case rest == "status" && r.Method == http.MethodGet:
		st, err := s.clusterStatus(r.Context())
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case (rest == "join" || rest == "remove") && r.Method == http.MethodPost:
		if !s.secretOK(r) {
			writeJSONError(w, requestErr(http.StatusUnauthorized, "Unauthorized", "membership changes need the cluster secret"))
			return
		}
		var req joinRequest
		if err := decodeJSON(r, &req); err != nil {
			writeJSONError(w, err)
			return
		}
		if req.ID == "" || (rest == "join" && req.RaftAddr == "") {
			writeJSONError(w, badRequest("InvalidRequest", "give id (and raft_addr to join)"))
			return
		}
		if err := s.changeMembership(r.Context(), rest, req); err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	default:
		writeJSONError(w, requestErr(http.StatusNotFound, "NoSuchRoute", "no route cluster/%s", rest))
	}
}

func (s *Server) secretOK(r *http.Request) bool {
	if s.cfg.ClusterSecret == "" {
		return false
	}
	got := r.Header.Get("Authorization")
	return got == "Bearer "+s.cfg.ClusterSecret
}

// changeMembership adds or removes a server on the leader, forwarding the
// request there from a follower.
func (s *Server) changeMembership(ctx context.Context, op string, req joinRequest) error {
	if !s.node.IsLeader() {
		_, addr := s.node.Leader()
		if addr == "" {
			return errNoLeader
		}
		body, _ := json.Marshal(req)
		return s.peers.do(ctx, http.MethodPost, addr, "/peer/"+op, bytes.NewReader(body), nil)
	}
	r := s.node.Raft()
	if op == "remove" {
		if err := r.RemoveServer(raft.ServerID(req.ID), 0, 0).Error(); err != nil {
			return fmt.Errorf("remove %s: %w", req.ID, err)
		}
		s.log.Info("membership changed", "op", op, "id", req.ID)
		return nil
	}
	// A new node joins as a non-voter and becomes a voter only once it
	// has caught up with the log, so that it never slows or blocks
	// commits while it copies the state.
	if err := r.AddNonvoter(raft.ServerID(req.ID), raft.ServerAddress(req.RaftAddr), 0, 0).Error(); err != nil {
		return fmt.Errorf("add %s: %w", req.ID, err)
	}
	if req.Voter {
		if err := s.waitCaughtUp(ctx, req.RaftAddr); err != nil {
			return err
		}
		if err := r.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.RaftAddr), 0, 0).Error(); err != nil {
			return fmt.Errorf("promote %s: %w", req.ID, err)
		}
	}
	s.log.Info("membership changed", "op", op, "id", req.ID, "addr", req.RaftAddr, "voter", req.Voter)
	return nil
}

// catchUpTimeout bounds how long a joining node may take to copy the log.
const catchUpTimeout = 10 * time.Minute

// waitCaughtUp waits until the node at addr has applied everything this
// leader had committed when the wait began.
func (s *Server) waitCaughtUp(ctx context.Context, addr string) error {
	target := s.node.State().Applied()
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	for {
		var n NodeStatus
		if err := s.peers.do(ctx, http.MethodGet, addr, "/peer/status", nil, &n); err == nil && n.Applied >= target {
			return nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("wait for %s to catch up to %d: %w", addr, target, err)
		}
	}
}

func (s *Server) peerJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if err := decodeJSON(r, &req); err != nil {
		writeJSONError(w, err)
		return
	}
	op := "join"
	if r.URL.Path == "/peer/remove" {
		op = "remove"
	}
	if err := s.changeMembership(r.Context(), op, req); err != nil {
		writeJSONError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// join asks a member (its HTTP address) to add this node, retrying until
// it succeeds or ctx ends.
func (s *Server) join(ctx context.Context) {
	body, _ := json.Marshal(joinRequest{ID: s.cfg.NodeID, RaftAddr: s.RaftAddr(), Voter: true})
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.cfg.Join+"/v1/cluster/join", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.cfg.ClusterSecret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.log.Info("joined cluster", "via", s.cfg.Join)
				return
			}
			err = fmt.Errorf("join answered %s", resp.Status)
		}
		s.log.Warn("join failed; retrying", "via", s.cfg.Join, "err", err)
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
}
