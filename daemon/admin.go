package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
)

// ScrubReport is the answer of a scrub: what was verified, what was
// corrupt, and how many corrupt chunks were replaced from peers.
type ScrubReport struct {
	cas.ScrubResult
	Repaired int      `json:"repaired"`
	Lost     []string `json:"lost,omitempty"` // corrupt and found on no peer
}

// apiAdmin serves admin/backup (GET: the state as a snapshot stream),
// admin/restore (POST: replace the cluster's state with a backup),
// admin/gc and admin/scrub (POST).
func (s *Server) apiAdmin(w http.ResponseWriter, r *http.Request, rest string) {
	switch {
	case rest == "backup" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=cairn-%s-%d.snap", s.cfg.NodeID, time.Now().Unix()))
		if _, err := s.node.Backup(w); err != nil {
			s.log.Error("backup cut short", "err", err)
			panic(http.ErrAbortHandler)
		}
	case rest == "restore" && r.Method == http.MethodPost:
		if err := s.node.RestoreBackup(r.Context(), r.Body); err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]uint64{"applied": s.node.State().Applied()})
	case rest == "gc" && r.Method == http.MethodPost:
		res, err := s.collectGarbage(r.Context())
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	case rest == "scrub" && r.Method == http.MethodPost:
		rep, err := s.scrub(r.Context())
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	case rest == "reclaim" && r.Method == http.MethodPost:
		res, err := s.store.Reclaim(r.Context(), 0)
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	default:
		writeJSONError(w, requestErr(http.StatusNotFound, "NoSuchRoute", "no route admin/%s", rest))
	}
}

// scrub verifies every local chunk; a corrupt one is deleted and fetched
// again from a peer when one holds it.
func (s *Server) scrub(ctx context.Context) (ScrubReport, error) {
	var bad []chunk.Digest
	res, err := s.store.Scrub(ctx, func(e *cas.CorruptError) error {
		s.log.Error("corrupt chunk", "digest", e.Digest, "reason", e.Reason)
		bad = append(bad, e.Digest)
		return nil
	})
	rep := ScrubReport{ScrubResult: res}
	if err != nil {
		return rep, err
	}
	if len(bad) == 0 {
		return rep, nil
	}
	if err := s.store.Delete(ctx, bad...); err != nil {
		return rep, err
	}
	for _, d := range bad {
		if err := s.fetchFromPeers(ctx, []chunk.Digest{d}); err != nil {
			if !errors.Is(err, errChunkNotFound) {
				return rep, err
			}
			rep.Lost = append(rep.Lost, d.String())
			continue
		}
		rep.Repaired++
	}
	return rep, nil
}
