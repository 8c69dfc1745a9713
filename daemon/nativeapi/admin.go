package nativeapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"cairn/client"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/upkeep"
	"cairn/raftfsm"
)

// admin serves admin/backup (GET: the state as a snapshot stream),
// admin/restore (POST: replace the cluster's state with a backup),
// admin/gc, admin/scrub, admin/reclaim and admin/tier (POST).
func (a *API) admin(w http.ResponseWriter, r *http.Request, rest string) error {
	switch {
	case rest == "backup" && r.Method == http.MethodGet:
		// A backup holds every write acknowledged before it was asked
		// for, whichever node takes it: a follower catches up first.
		if err := a.node.ReadBarrier(r.Context()); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=cairn-%s-%d.snap", a.node.ID(), time.Now().Unix()))
		if _, err := a.node.Raft().Backup(w); err != nil {
			a.log.Error("backup cut short", "err", err, "request_id", httpx.RequestID(r.Context()))
			panic(http.ErrAbortHandler)
		}
	case rest == "restore" && r.Method == http.MethodPost:
		if err := a.restore(r); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]uint64{"applied": a.node.State().Applied()})
	case rest == "gc" && r.Method == http.MethodPost:
		gc := a.upkeep.GC
		if full, _ := strconv.ParseBool(r.URL.Query().Get("full")); full {
			gc = a.upkeep.FullGC
		}
		res, err := gc(r.Context())
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, res)
	case rest == "scrub" && r.Method == http.MethodPost:
		rep, err := a.upkeep.Scrub(r.Context())
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, rep)
	case rest == "tier" && r.Method == http.MethodPost:
		res, err := a.upkeep.Tier(r.Context())
		if errors.Is(err, upkeep.ErrNoTier) {
			return apierr.New(http.StatusConflict, "NoColdTier", "this node has no cold tier: set tier_endpoint and tier_bucket")
		}
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, res)
	case rest == "reclaim" && r.Method == http.MethodPost:
		res, err := a.node.Store().Reclaim(r.Context(), 0)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, res)
	default:
		return apierr.New(http.StatusNotFound, "NoSuchRoute", "no route admin/%s", rest)
	}
	return nil
}

// cluster serves cluster/status (GET), cluster/join and cluster/remove
// (POST, admin keys only: authorize checks).
func (a *API) cluster(w http.ResponseWriter, r *http.Request, rest string) error {
	switch {
	case rest == "status" && r.Method == http.MethodGet:
		st, err := a.members.Status(r.Context())
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, st)
	case (rest == "join" || rest == "remove") && r.Method == http.MethodPost:
		var req client.JoinRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		if req.ID == "" || (rest == "join" && req.RaftAddr == "") {
			return apierr.BadRequest("InvalidRequest", "give id (and raft_addr to join)")
		}
		if err := a.members.Change(r.Context(), rest, req); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, struct{}{})
	default:
		return apierr.New(http.StatusNotFound, "NoSuchRoute", "no route cluster/%s", rest)
	}
	return nil
}

// restore replaces the cluster's state with a backup. The backup is
// spooled to disk before Raft takes it, and Raft keeps it as a snapshot
// besides the state it restores: so a restore needs about twice its size
// free above the reserve, which is checked before a byte is read, and it
// may not exceed MaxRestoreSize.
func (a *API) restore(r *http.Request) error {
	if err := a.leads(); err != nil {
		return err
	}
	limit := a.cfg.MaxRestoreSize
	if r.ContentLength > limit {
		return apierr.New(http.StatusRequestEntityTooLarge, "EntityTooLarge", "a backup of %d bytes is larger than the %d this node restores (max_restore_size)", r.ContentLength, limit)
	}
	if r.ContentLength < 0 {
		return apierr.New(http.StatusLengthRequired, "MissingContentLength", "send a backup with its Content-Length, so that its room is checked first")
	}
	if err := a.node.RoomFor(2 * r.ContentLength); err != nil {
		return err
	}
	body := http.MaxBytesReader(nil, r.Body, limit)
	err := a.node.Raft().RestoreBackup(r.Context(), body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apierr.New(http.StatusRequestEntityTooLarge, "EntityTooLarge", "the backup is larger than the %d bytes this node restores (max_restore_size)", limit)
	}
	return err
}

// leads answers a restore sent to a follower before its body is read
// (a client that sent Expect: 100-continue has not sent it yet): 503, so
// that a client with several endpoints tries the next, naming the leader
// for the one that has only this node. The body is too large to forward.
func (a *API) leads() error {
	rn := a.node.Raft()
	if rn.IsLeader() {
		return nil
	}
	id, addr := rn.Leader()
	if id == "" {
		return fmt.Errorf("%w: %s does not lead and knows no leader now; restore on the leader once one is elected", raftfsm.ErrNoLeader, rn.ID())
	}
	return apierr.New(http.StatusServiceUnavailable, "NotLeader",
		"%s does not lead: %s does (cluster address %s); send the restore to %s's HTTP port", rn.ID(), id, addr, id)
}
