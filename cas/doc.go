// Package cas is one node's content-addressed store: bytes in, digest
// out; digest in, verified bytes out. It knows BLAKE3, chunking, S2, zstd,
// Badger and its own pack files, and nothing of runs, buckets, peers or
// Raft.
//
// # Chunk
//
// A chunk is up to 512 KiB of a file, cut by the content-defined chunker of
// package chunk and named by the BLAKE3-256 digest of its bytes. Each chunk
// is stored once, under its digest.
//
// # Stored form
//
// A chunk's stored form is a one-byte codec header and a payload: raw, one
// zstd frame, or one S2 block (see Codec). Put stores new chunks in S2, the
// fast codec, or raw when S2 saves less than MinSaving, so that
// already-compressed artifacts are never decompressed twice. Peers pass
// chunks in their stored form (GetStored, PutStoredBatch); reads decode
// any codec.
//
// # Index and packs
//
// The index is a Badger database: one entry per chunk, holding either
// the stored form itself (small chunks, up to InlineMax) or where the
// chunk lives in a pack file. Pack files are append-only files of records,
// each one frame of one codec holding one or more chunks. Put appends to a
// hot pack; the compactor writes cold packs. docs/format.md gives the
// layout.
//
// # Compactor
//
// The compactor, started by Open and stopped by Close, works while the
// store has had no foreground work (puts, reads) for CompactIdle and other
// processes leave a core free. It reads hot packs in order, verifies each
// chunk, and writes runs of chunks (up to CompactFrame) as one zstd frame
// at CompactLevel to a cold pack: the store's at-rest form, smaller than
// zstd per chunk. It rewrites packs that deletes have left at least
// GarbageRatio garbage, and removes packs nothing points into, giving
// their space back. Backlog reports what is left to do. A chunk is always
// readable in its old form or its new one, whenever the process dies.
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
// verifies every chunk in the store. Decoded chunks are kept in a bounded
// cache (CacheSize) and hashed again on every read from it.
//
// # Durability
//
// Put, PutChunk, PutStoredBatch and Delete return only after their writes
// are synced to disk: a chunk's bytes in its pack first, then its index
// entry, in rounds shared between concurrent callers. A failed sync fails
// the store until it is reopened.
//
// # Space
//
// A deleted chunk's space comes back when the compactor rewrites or
// removes the pack it sat in, without being asked; Reclaim does it at
// once.
package cas
