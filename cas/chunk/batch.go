package chunk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Batches: chunks travel from a client to a node (POST /v1/chunks) and
// between nodes as a batch, each chunk as its 32-byte digest, the length
// of its value as a uvarint, and the value: the chunk in a stored form, a
// codec byte and the payload (the codecs are the chunk store's; RawForm is
// the chunk as is). Batches concatenate.

// RawForm is the codec byte of a value that holds the chunk as is.
const RawForm byte = 0

// ErrBadBatch is returned for a batch that does not decode.
var ErrBadBatch = errors.New("chunk: malformed batch")

// AppendBatchHeader appends the digest and value length of one entry; the
// caller appends the n bytes of the value after it.
func AppendBatchHeader(dst []byte, d Digest, n int) []byte {
	dst = append(dst, d[:]...)
	return binary.AppendUvarint(dst, uint64(n))
}

// AppendBatch appends one entry whose value is v.
func AppendBatch(dst []byte, d Digest, v []byte) []byte {
	return append(AppendBatchHeader(dst, d, len(v)), v...)
}

// AppendForm appends one entry whose value is the codec byte form and
// payload p, without building the value first.
func AppendForm(dst []byte, d Digest, form byte, p []byte) []byte {
	dst = append(AppendBatchHeader(dst, d, 1+len(p)), form)
	return append(dst, p...)
}

// ReadBatch reads the entries of a batch from r until it ends, calling fn
// with each; the value is fn's to keep. maxValue bounds one value's
// length, and a value of zero bytes is malformed (it has no codec byte).
func ReadBatch(r io.Reader, maxValue int, fn func(d Digest, v []byte) error) error {
	br := bufio.NewReader(r)
	for {
		var d Digest
		if _, err := io.ReadFull(br, d[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%w: %w", ErrBadBatch, err)
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n == 0 || n > uint64(maxValue) {
			return fmt.Errorf("%w: bad length for %s", ErrBadBatch, d.Short())
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(br, v); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadBatch, d.Short(), err)
		}
		if err := fn(d, v); err != nil {
			return err
		}
	}
}
