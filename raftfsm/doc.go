// Package raftfsm is cairn's replicated state and its Raft wiring.
//
// # State
//
// The state is the map every node agrees on: buckets, objects (keys
// pointing to files), file records (digest, size, recipe) and the
// reference counts of files and chunks, multipart uploads and their
// parts, named refs, and the run and model indexes derived from MLflow's
// layouts. It lives in a Badger database of its own, written only by
// Apply, together with the applied index. State answers queries over it.
//
// # Commands
//
// A Command is one byte of op and a JSON body (docs/format.md). Apply is
// deterministic: no clock, no randomness, no reads of anything but the
// state; times and parsed MLmodel fields travel in the command. A command
// the state refuses changes nothing and comes back as Result.Err, one of
// the sentinels of errors.go, each with a stable code for the nodes that
// forward commands.
//
// # Node
//
// A Node runs hashicorp/raft over the state: the log (raft-wal),
// snapshots streamed from a Badger read view (zstd-compressed once the
// cluster has FeatureZstdSnapshot on) and paced by their size, restore
// into a fresh folder, membership and status. It is the only package that imports
// hashicorp/raft; the network under it is a StreamLayer the caller gives.
//
// It knows Raft and Badger; it must not know HTTP, YAML, the surfaces, or
// where chunk bytes live (only their digests and sizes).
package raftfsm
