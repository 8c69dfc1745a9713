// Package load generates an MLflow-shaped workload and measures targets
// with it: cairn through its Go client or S3, any other S3 endpoint, and a
// plain folder like MLflow's file store.
//
// # Workload
//
// E experiments of R runs each. Every run logs what
// mlflow.xgboost.log_model writes: an MLmodel unique to the run,
// conda.yaml, python_env.yaml and requirements.txt that are identical
// across most runs and change now and then, and a booster drawn from a
// pool of real boosters, where some runs log one already logged and others
// a retrain that shares part of its bytes with an earlier one. Each run
// also logs a small PNG plot and a metrics JSON of its own. The same seed
// gives the same files, byte for byte.
//
// It knows the workload and how to drive S3 endpoints, the Go client and
// folders; of cairn itself it knows only daemon.New, to run in-process
// targets, and the client library.
package load
