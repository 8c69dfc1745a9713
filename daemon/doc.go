// Package daemon wires one cairn node together: it opens the chunk store
// (cas) and the replicated state (raftfsm), serves the cluster port
// (cluster), builds the node's core (core) and its background work
// (upkeep), and routes the HTTP listener to the surfaces: S3 (s3api),
// MLflow's proxied artifact API (mlflowapi), the native API (nativeapi),
// plus /metrics, /healthz and /readyz.
//
// # Routing
//
// The router picks the surface of a request once, by its signature and
// its path, and that surface alone answers it, errors included. A request
// signed for S3 always goes to S3, so that a bucket named like a native
// route still works.
//
// It knows configuration, process lifecycle and which surface owns which
// request; it must not hold the logic of any surface or of the write and
// read paths, which live in the packages above.
package daemon
