package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/client"
)

// Chunk batches between nodes: POST /peer/chunks carries chunks in their
// stored form, each as its 32-byte digest, its length as a uvarint and its
// bytes. The receiver checks every chunk and stores the batch with one
// sync.
const (
	pushBatchBytes = 8 << 20
	maxBatchBody   = 2 * pushBatchBytes
)

func encodeBatch(cs []cas.StoredChunk) []byte {
	n := 0
	for _, c := range cs {
		n += len(c.Digest) + binary.MaxVarintLen64 + len(c.Value)
	}
	return appendBatch(make([]byte, 0, n), cs)
}

// appendBatch appends the encoded chunks to dst: batches concatenate.
func appendBatch(dst []byte, cs []cas.StoredChunk) []byte {
	for _, c := range cs {
		dst = append(dst, c.Digest[:]...)
		dst = binary.AppendUvarint(dst, uint64(len(c.Value)))
		dst = append(dst, c.Value...)
	}
	return dst
}

// decodeBatch reads a batch; maxValue bounds one chunk's stored form.
func decodeBatch(r io.Reader, maxValue int) ([]cas.StoredChunk, error) {
	br := bufio.NewReader(r)
	var out []cas.StoredChunk
	for {
		var c cas.StoredChunk
		if _, err := io.ReadFull(br, c.Digest[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, badRequest("InvalidRequest", "chunk batch: %v", err)
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n == 0 || n > uint64(maxValue) {
			return nil, badRequest("InvalidRequest", "chunk batch: bad length for %s", c.Digest.Short())
		}
		c.Value = make([]byte, n)
		if _, err := io.ReadFull(br, c.Value); err != nil {
			return nil, badRequest("InvalidRequest", "chunk batch: %v", err)
		}
		out = append(out, c)
	}
}

func (s *Server) peerPutBatch(w http.ResponseWriter, r *http.Request) {
	max := s.store.Params().MaxSize
	cs, err := decodeBatch(http.MaxBytesReader(w, r.Body, maxBatchBody), max+max/255+128)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	n, err := s.store.PutStoredBatch(r.Context(), cs)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"added": n})
}

// pushTo sends a peer the chunks it lacks, in batches, two at a time.
func (s *Server) pushTo(ctx context.Context, addr string, digests []chunk.Digest) error {
	for len(digests) > 0 {
		n := min(len(digests), maxMissingBatch)
		body, _ := jsonBody(client.MissingRequest{Digests: digests[:n]})
		var res client.MissingResult
		if err := s.peers.do(ctx, http.MethodPost, addr, "/peer/missing", body, &res); err != nil {
			return err
		}
		if err := s.pushBatches(ctx, addr, res.Missing); err != nil {
			return err
		}
		digests = digests[n:]
	}
	return nil
}

func (s *Server) pushBatches(ctx context.Context, addr string, missing []chunk.Digest) error {
	errc := make(chan error, 2)
	inflight := 0
	var batch []cas.StoredChunk
	size := 0
	send := func() {
		b := encodeBatch(batch)
		batch, size = nil, 0
		inflight++
		go func() { errc <- s.peers.do(ctx, http.MethodPost, addr, "/peer/chunks", bytes.NewReader(b), nil) }()
	}
	var firstErr error
	wait := func() {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = fmt.Errorf("push chunks to %s: %w", addr, err)
		}
		inflight--
	}
	for _, d := range missing {
		v, err := s.store.GetStored(ctx, d)
		if err != nil {
			firstErr = err
			break
		}
		batch = append(batch, cas.StoredChunk{Digest: d, Value: v})
		if size += len(v); size >= pushBatchBytes {
			if inflight == 2 {
				wait()
			}
			if firstErr != nil {
				break
			}
			send()
		}
	}
	if firstErr == nil && len(batch) > 0 {
		send()
	}
	for inflight > 0 {
		wait()
	}
	return firstErr
}
