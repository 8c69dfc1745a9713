// Package mlflowapi answers MLflow's proxied artifact API under
// /api/2.0/mlflow-artifacts/, so that mlflow-artifacts:// and http://
// artifact locations work unchanged: artifacts are PUT, GET, listed and
// deleted by path in one bucket, and large files go up as multipart
// uploads through part URLs the API signs itself. Errors are answered in
// MLflow's JSON form, by writeError alone.
//
// It knows MLflow's wire format and the node's core; it must not know the
// other surfaces, Raft's wiring or the chunk store's internals.
package mlflowapi
