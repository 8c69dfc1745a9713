package cas

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound means the store holds no chunk with the digest asked for.
	ErrNotFound = errors.New("cas: not found")
	// ErrDigestMismatch means bytes offered under a digest do not hash to it.
	ErrDigestMismatch = errors.New("cas: digest mismatch")
	// ErrCorrupt means a stored chunk no longer matches its digest, or its
	// stored form does not decode. CorruptError names the chunk.
	ErrCorrupt = errors.New("cas: corrupt chunk")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("cas: closed")
	// ErrFailed means an earlier sync failed: after an fsync error the
	// state of the files is unknown, so the store accepts no more writes
	// until it is reopened.
	ErrFailed = errors.New("cas: store failed")
	// ErrTooLarge means a chunk is longer than the chunker's maximum.
	ErrTooLarge = errors.New("cas: chunk too large")
	// ErrNoSpace means a write would leave less free space than
	// Options.MinFreeSpace on the store's file system. Nothing was written;
	// the store stays usable, and writes go through again once space is
	// freed.
	ErrNoSpace = errors.New("cas: not enough free disk space")
)

// CorruptError reports a stored chunk that failed verification. It matches
// ErrCorrupt with errors.Is.
type CorruptError struct {
	Digest Digest
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("cas: corrupt chunk %s: %s", e.Digest, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
