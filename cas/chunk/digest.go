package chunk

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// DigestSize is the length in bytes of a Digest.
const DigestSize = 32

// ErrInvalidDigest is returned when text does not parse as a digest.
var ErrInvalidDigest = errors.New("chunk: invalid digest")

// Digest is the BLAKE3-256 hash of some bytes. It names a chunk (the hash
// of the chunk's uncompressed bytes) or a file (the hash of the whole
// content, the value b3sum prints). The zero Digest names nothing.
type Digest [DigestSize]byte

// Sum returns the digest of b.
func Sum(b []byte) Digest { return Digest(blake3.Sum256(b)) }

// ParseDigest parses the 64-character lowercase or uppercase hex form of
// a digest.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*DigestSize {
		return d, fmt.Errorf("%w: %d characters, want %d", ErrInvalidDigest, len(s), 2*DigestSize)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("%w: %v", ErrInvalidDigest, err)
	}
	return d, nil
}

// String returns the 64-character lowercase hex form.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short returns the first 12 hex characters, for logs and messages.
func (d Digest) Short() string { return hex.EncodeToString(d[:6]) }

// IsZero reports whether d is the zero digest.
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText implements encoding.TextMarshaler: digests travel as hex.
func (d Digest) MarshalText() ([]byte, error) {
	b := make([]byte, 2*DigestSize)
	hex.Encode(b, d[:])
	return b, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// Hasher computes a Digest over a stream. It is an io.Writer and is not
// safe for concurrent use.
type Hasher struct{ h *blake3.Hasher }

// NewHasher returns a Hasher ready for writing.
func NewHasher() *Hasher { return &Hasher{h: blake3.New()} }

// Write adds p to the hashed stream. It never fails.
func (h *Hasher) Write(p []byte) (int, error) { return h.h.Write(p) }

// Digest returns the digest of everything written so far.
func (h *Hasher) Digest() Digest {
	var d Digest
	h.h.Sum(d[:0])
	return d
}

// Reset forgets everything written.
func (h *Hasher) Reset() { h.h.Reset() }
