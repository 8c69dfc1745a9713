// Package cas is one node's content-addressed store: bytes in, digest
// out; digest in, verified bytes out. It knows BLAKE3, chunking, zstd and
// Badger, and nothing of runs, buckets, peers or Raft.
//
// # Chunk
//
// A chunk is up to 512 KiB of a file, cut by the content-defined chunker of
// package chunk and named by the BLAKE3-256 digest of its bytes. Each chunk
// is stored once, under its digest, as a one-byte codec header followed by
// either a zstd frame or, when zstd saves less than MinSaving, the raw
// bytes, so that already-compressed artifacts are never decompressed twice.
//
// # File and recipe
//
// Put streams a file of any length through the chunker and returns its
// digest (the BLAKE3-256 of the whole content, as b3sum prints it) and its
// recipe, the ordered list of its chunks. Open reads a file back from its
// recipe. The store keeps chunks only: which recipes exist, and which
// chunks they still need, is the business of the replicated state above it.
//
// # Verification
//
// Every chunk read is hashed again before any of its bytes are returned; a
// mismatch is a *CorruptError naming the chunk, never wrong bytes. Scrub
// verifies every chunk in the store.
//
// # Durability
//
// Put, PutChunk and Delete return only after their writes are synced to
// disk, with one sync per call, shared between concurrent callers. A
// failed sync fails the store until it is reopened.
//
// # Space
//
// Chunk payloads live in Badger's value log. Deleting a chunk frees its
// space only when Reclaim rewrites the value log files it sat in.
package cas
