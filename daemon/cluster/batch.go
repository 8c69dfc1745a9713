package cluster

import (
	"encoding/binary"
	"io"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/daemon/internal/apierr"
)

// Chunk batches between nodes: POST /peer/chunks and the answer of POST
// /peer/fetch carry chunks in their stored form in chunk's batch format
// (chunk.AppendBatch). The receiver checks every chunk and stores the
// batch with one sync.
const (
	// BatchBytes is how many stored bytes a batch holds before the sender
	// starts the next.
	BatchBytes = 8 << 20
	// MaxBatchBody bounds the body of one batch, from a peer or a client.
	MaxBatchBody = 2 * BatchBytes
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
		dst = chunk.AppendBatch(dst, c.Digest, c.Value)
	}
	return dst
}

// MaxStored bounds the stored form of a chunk of at most maxChunk bytes:
// a codec byte and the chunk, or a compressed frame a little larger.
func MaxStored(maxChunk int) int { return maxChunk + maxChunk/255 + 128 }

// DecodeBatch reads a batch; maxValue bounds one chunk's stored form. A
// malformed batch is a bad request.
func DecodeBatch(r io.Reader, maxValue int) ([]cas.StoredChunk, error) {
	var out []cas.StoredChunk
	err := chunk.ReadBatch(r, maxValue, func(d chunk.Digest, v []byte) error {
		out = append(out, cas.StoredChunk{Digest: d, Value: v})
		return nil
	})
	if err != nil {
		return nil, apierr.BadRequest("InvalidRequest", "chunk batch: %v", err)
	}
	return out, nil
}
