package daemon

import (
	"net/http"
)

// serveHealth answers 200 while the process serves requests.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveReady answers 200 when the node can take writes: it knows a
// leader, its state and chunk stores work, and it is not shutting down.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	status := map[string]string{"status": "ready"}
	code := http.StatusOK
	leader, _ := s.node.Leader()
	switch {
	case s.closed.Load():
		status["status"], code = "shutting down", http.StatusServiceUnavailable
	case leader == "":
		status["status"], code = "no leader", http.StatusServiceUnavailable
	case s.node.State().Err() != nil:
		status["status"], code = s.node.State().Err().Error(), http.StatusServiceUnavailable
	default:
		if _, err := s.store.Stats(r.Context()); err != nil {
			status["status"], code = err.Error(), http.StatusServiceUnavailable
		}
	}
	status["leader"] = leader
	writeJSON(w, code, status)
}
