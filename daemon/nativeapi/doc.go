// Package nativeapi is cairn's own JSON API under /v1/, the one the Go
// client and the CLI speak: objects (put, get with ranges and conditions,
// stat, list, delete by prefix), chunks and commits for clients that chunk
// on their side, buckets, runs:/ and models:/ resolution, the run and
// model indexes, stats, named refs, cluster membership and status, and
// the admin routes (backup, restore, GC, scrub, reclaim). Errors are
// answered as client.Error JSON, by writeError alone.
//
// It knows the wire types of package client and the node's core, upkeep
// and membership; it must not know the other surfaces or Raft's wiring.
package nativeapi
