// Package hashpipe moves hashing off a reader's path. Hashing a large
// upload (MD5 for its ETag, the SHA-256 a signature declared, a checksum)
// costs more CPU than the rest of reading it; done inline, it holds up
// whoever reads the body, such as the chunk store's splitter, for every
// byte. A Writer hashes the first bytes inline, where small bodies stay,
// and past them copies what it is given into blocks that a goroutine of
// its own hashes, a bounded number of blocks behind.
//
// It knows io and hashing; it must not know HTTP or what the hashes are
// for.
package hashpipe
