// Package scale measures a real three-node cluster as its namespace
// grows: `cairn-bench scale` builds cairn, starts three `cairn serve`
// processes on 127.0.0.1, fills one bucket in MLflow's layout
// (<experiment>/<run_id>/artifacts/model/{MLmodel, conda.yaml,
// python_env.yaml, requirements.txt, model.xgb}) and, at each size, times
// what an operator and MLflow's clients feel.
//
// # Namespace
//
// Every run logs five files. The MLmodel is the run's own (its run_id and
// model_uuid); the four others are the same bytes in every run (the env
// files of the shared data folder and a small real booster), so that the
// namespace grows, not the bytes: after the first run, a PUT stores at
// most one new small chunk. Run ids are 32 hex digits drawn from the run's
// number, spread like MLflow's uuid4 hex. Experiments hold a fixed number
// of runs, so the whole-experiment listing reads the same number of keys
// at every size.
//
// # Measures
//
// At each size: PUT latency at concurrency 64 and 1 (the last objects of
// the fill), listing one run's folder, listing one experiment page by
// page, runs:/ resolution, the admin backup (the state's snapshot
// stream), GC (incremental and full), every node's RSS at rest and disk
// (Raft log, snapshots, state, chunks), one follower's restart and a
// fourth node's catch-up from its join. Separately, the same PUTs at
// concurrency 64 on fresh clusters with Raft batching on and off.
//
// It knows cairn only through its binary, its HTTP API and its Go client,
// and the layout of a node's data folder.
package scale
