package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

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

// headerTruncated marks a fetch answer that stopped at pushBatchBytes
// before the end of the list asked for.
const headerTruncated = "Cairn-Truncated"

// peerFetch answers POST /peer/fetch: the listed chunks this node holds,
// in the order asked, as one batch of at most about pushBatchBytes. The
// ones it lacks are left out; when the batch fills up first, the answer
// says so and the asker asks again for the rest.
func (s *Server) peerFetch(w http.ResponseWriter, r *http.Request) {
	var req client.MissingRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&req); err != nil {
		writeJSONError(w, badRequest("InvalidRequest", "fetch: %v", err))
		return
	}
	if len(req.Digests) > maxMissingBatch {
		writeJSONError(w, badRequest("InvalidRequest", "fetch: %d digests, at most %d", len(req.Digests), maxMissingBatch))
		return
	}
	var batch []cas.StoredChunk
	size := 0
	for i, d := range req.Digests {
		if size >= pushBatchBytes {
			w.Header().Set(headerTruncated, strconv.Itoa(i))
			break
		}
		v, err := s.store.GetStored(r.Context(), d)
		if errors.Is(err, cas.ErrNotFound) {
			continue
		}
		if err != nil {
			var ce *cas.CorruptError
			if errors.As(err, &ce) {
				continue // the asker gets it from another peer; scrub finds this one
			}
			writeJSONError(w, err)
			return
		}
		batch = append(batch, cas.StoredChunk{Digest: d, Value: v})
		size += len(v)
	}
	body := encodeBatch(batch)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// fetchBatch asks addr for the given chunks (at most maxMissingBatch) and
// keeps the ones it sends, each verified. It returns the digests it got,
// how many of them were new here, and how many of the list the peer
// looked at: the ones it looked at and did not send, it lacks.
func (s *Server) fetchBatch(ctx context.Context, addr string, digests []chunk.Digest) (got []chunk.Digest, added, looked int, err error) {
	body, _ := jsonBody(client.MissingRequest{Digests: digests})
	resp, err := s.peers.send(ctx, http.MethodPost, addr, "/peer/fetch", body)
	if err != nil {
		return nil, 0, 0, err
	}
	defer resp.Body.Close()
	looked = len(digests)
	if v := resp.Header.Get(headerTruncated); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= len(digests) {
			looked = n
		}
	}
	max := s.store.Params().MaxSize
	cs, err := decodeBatch(io.LimitReader(resp.Body, maxBatchBody), max+max/255+128)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("fetch from %s: %w", addr, err)
	}
	asked := make(map[chunk.Digest]bool, looked)
	for _, d := range digests[:looked] {
		asked[d] = true
	}
	for _, c := range cs {
		if !asked[c.Digest] {
			return nil, 0, 0, fmt.Errorf("fetch from %s: chunk %s was not asked for", addr, c.Digest.Short())
		}
	}
	added, err = s.store.PutStoredBatch(ctx, cs)
	if err != nil {
		if !errors.Is(err, cas.ErrDigestMismatch) {
			return nil, 0, 0, err
		}
		// One of them is wrong: keep the others, one at a time.
		added = 0
		for _, c := range cs {
			ok, err := s.store.PutStored(ctx, c.Digest, c.Value)
			if err == nil {
				got = append(got, c.Digest)
				if ok {
					added++
				}
			} else if !errors.Is(err, cas.ErrDigestMismatch) {
				return got, added, looked, err
			}
		}
		return got, added, looked, nil
	}
	for _, c := range cs {
		got = append(got, c.Digest)
	}
	return got, added, looked, nil
}
