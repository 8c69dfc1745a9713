package nativeapi

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cairn/client"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
)

// admin serves admin/backup (GET: the state as a snapshot stream),
// admin/restore (POST: replace the cluster's state with a backup),
// admin/gc, admin/scrub and admin/reclaim (POST).
func (a *API) admin(w http.ResponseWriter, r *http.Request, rest string) error {
	switch {
	case rest == "backup" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=cairn-%s-%d.snap", a.node.ID(), time.Now().Unix()))
		if _, err := a.node.Raft().Backup(w); err != nil {
			a.log.Error("backup cut short", "err", err, "request_id", httpx.RequestID(r.Context()))
			panic(http.ErrAbortHandler)
		}
	case rest == "restore" && r.Method == http.MethodPost:
		if err := a.node.Raft().RestoreBackup(r.Context(), r.Body); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]uint64{"applied": a.node.State().Applied()})
	case rest == "gc" && r.Method == http.MethodPost:
		res, err := a.upkeep.GC(r.Context())
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
// (POST, with the cluster secret as bearer token).
func (a *API) cluster(w http.ResponseWriter, r *http.Request, rest string) error {
	switch {
	case rest == "status" && r.Method == http.MethodGet:
		st, err := a.members.Status(r.Context())
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, st)
	case (rest == "join" || rest == "remove") && r.Method == http.MethodPost:
		if !a.secretOK(r) {
			return apierr.New(http.StatusUnauthorized, "Unauthorized", "membership changes need the cluster secret")
		}
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

func (a *API) secretOK(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && a.cfg.ClusterSecret != "" && subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.ClusterSecret)) == 1
}
