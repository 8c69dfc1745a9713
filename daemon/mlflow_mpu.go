package daemon

import (
	"net/http"
)

// mlflowMultipart answers mpu/create, mpu/complete and mpu/abort. Until
// multipart uploads through MLflow are wired to the shared multipart
// code, create answers the error the MLflow client recognises, and it
// falls back to one plain PUT.
func (s *Server) mlflowMultipart(w http.ResponseWriter, r *http.Request, rest string) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{
		"error_code": "NOT_IMPLEMENTED",
		"message":    "Multipart upload is not supported for the current artifact repository",
	})
}

func (s *Server) mlflowPart(w http.ResponseWriter, r *http.Request) {
	writeMLflowError(w, requestErr(http.StatusNotFound, "NoSuchUpload", "no such upload"))
}
