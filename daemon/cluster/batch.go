package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"

	"cairn/cas"
	"cairn/daemon/internal/apierr"
)

// Chunk batches between nodes: POST /peer/chunks and the answer of POST
// /peer/fetch carry chunks in their stored form, each as its 32-byte
// digest, its length as a uvarint and its bytes. The receiver checks every
// chunk and stores the batch with one sync.
const (
	// BatchBytes is how many stored bytes a batch holds before the sender
	// starts the next.
	BatchBytes   = 8 << 20
	maxBatchBody = 2 * BatchBytes
)

// EncodeBatch returns the encoded batch of cs.
func EncodeBatch(cs []cas.StoredChunk) []byte {
	n := 0
	for _, c := range cs {
		n += len(c.Digest) + binary.MaxVarintLen64 + len(c.Value)
	}
	return AppendBatch(make([]byte, 0, n), cs)
}

// AppendBatch appends the encoded chunks to dst: batches concatenate.
func AppendBatch(dst []byte, cs []cas.StoredChunk) []byte {
	for _, c := range cs {
		dst = append(dst, c.Digest[:]...)
		dst = binary.AppendUvarint(dst, uint64(len(c.Value)))
		dst = append(dst, c.Value...)
	}
	return dst
}

// maxStored bounds the stored form of a chunk of at most maxChunk bytes:
// a codec byte and the chunk, or a compressed frame a little larger.
func maxStored(maxChunk int) int { return maxChunk + maxChunk/255 + 128 }

// DecodeBatch reads a batch; maxValue bounds one chunk's stored form.
func DecodeBatch(r io.Reader, maxValue int) ([]cas.StoredChunk, error) {
	br := bufio.NewReader(r)
	var out []cas.StoredChunk
	for {
		var c cas.StoredChunk
		if _, err := io.ReadFull(br, c.Digest[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, apierr.BadRequest("InvalidRequest", "chunk batch: %v", err)
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n == 0 || n > uint64(maxValue) {
			return nil, apierr.BadRequest("InvalidRequest", "chunk batch: bad length for %s", c.Digest.Short())
		}
		c.Value = make([]byte, n)
		if _, err := io.ReadFull(br, c.Value); err != nil {
			return nil, apierr.BadRequest("InvalidRequest", "chunk batch: %v", err)
		}
		out = append(out, c)
	}
}
