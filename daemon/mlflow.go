package daemon

import (
	"net/http"
)

// mlflowPrefix is where MLflow's proxied artifact API lives.
const mlflowPrefix = "/api/2.0/mlflow-artifacts/"

// writeMLflowError answers in MLflow's JSON error form.
func writeMLflowError(w http.ResponseWriter, err error) {
	e := classify(err)
	code := "INTERNAL_ERROR"
	switch {
	case e.Status == http.StatusNotFound:
		code = "RESOURCE_DOES_NOT_EXIST"
	case e.Status == http.StatusNotImplemented:
		code = "NOT_IMPLEMENTED"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		code = "PERMISSION_DENIED"
	case e.Status/100 == 4:
		code = "INVALID_PARAMETER_VALUE"
	case e.Status == http.StatusServiceUnavailable:
		code = "TEMPORARILY_UNAVAILABLE"
	}
	writeJSON(w, e.Status, map[string]string{"error_code": code, "message": e.Message})
}

// serveMLflow answers MLflow's proxied artifact API.
func (s *Server) serveMLflow(w http.ResponseWriter, r *http.Request, rest string) {
	writeMLflowError(w, requestErr(http.StatusNotImplemented, "NotImplemented", "the MLflow artifact API is not served yet"))
}
