// Package chunk is cairn's leaf format package: the digest that names
// chunks and files, the content-defined chunker, and the recipe that lists
// a file's chunks. It does no disk or network I/O, so that the Go client
// chunks and hashes exactly as the server does without importing the store.
//
// # Digest
//
// A Digest is BLAKE3-256. A chunk is named by the digest of its
// uncompressed bytes; a file by the digest of its whole content, which is
// the value b3sum prints. Digests travel as 64 lowercase hex characters.
//
// # Chunker
//
// Chunk boundaries are content-defined with a gear rolling hash and
// FastCDC's normalized chunking, so that a file that changes in one place
// keeps the chunks around the change. The gear table, the masks and the size
// bounds (32 KiB minimum, 128 KiB average, 512 KiB maximum) make up chunker
// Format 1. A file shorter than the minimum is a single chunk; an empty file
// has no chunks.
//
// # Recipe
//
// A Recipe is the ordered list of a file's chunks with their lengths. Its
// binary form is what the replicated state stores.
//
// It knows BLAKE3 and the chunker; it must not do I/O (no disk, no
// network), so that the client chunks exactly as the server does without
// the store.
package chunk
