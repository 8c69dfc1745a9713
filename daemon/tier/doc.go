// Package tier is the cold tier: an S3-compatible bucket outside the
// cluster (Ceph RGW, MinIO, AWS S3, another cairn) that holds chunks the
// nodes no longer keep on their own disks. It knows how a chunk is named
// and sent there, through cairn's own S3 client; it does not know which
// chunks are cold, nor the replicated state that records which chunks the
// bucket holds: the upkeep decides those, and the core reads through it.
package tier
