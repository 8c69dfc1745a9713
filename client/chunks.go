package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"cairn/cas/chunk"

	"github.com/klauspost/compress/s2"
)

// GetChunk fetches one chunk and verifies it: a chunk whose bytes do not
// hash to its digest (or whose length is not size, when size is not 0)
// is an error matching ErrDigestMismatch that names it, and its bytes are
// not returned.
func (c *Client) GetChunk(ctx context.Context, d chunk.Digest, size uint32) ([]byte, error) {
	limit := int64(max(int(size), chunk.DefaultMaxSize)) + 1
	resp, err := c.conn.do(ctx, call{method: http.MethodGet, path: "/v1/chunks/" + d.String(), idempotent: true, maxBody: limit})
	if err != nil {
		return nil, fmt.Errorf("get chunk %s: %w", d, err)
	}
	return verifyChunk(d, size, resp.body)
}

// verifyChunk returns b if it is chunk d (of size bytes, unless size is 0).
func verifyChunk(d chunk.Digest, size uint32, b []byte) ([]byte, error) {
	if size != 0 && len(b) != int(size) {
		return nil, fmt.Errorf("verify chunk %s: %w: got %d bytes, want %d", d, ErrDigestMismatch, len(b), size)
	}
	if got := chunk.Sum(b); got != d {
		return nil, fmt.Errorf("verify chunk %s: %w: the bytes received hash to %s", d, ErrDigestMismatch, got)
	}
	return b, nil
}

// fetchGroupBytes is how many chunk bytes one POST /v1/chunks/fetch asks
// for: a 5 MiB booster comes back in five requests, in parallel.
const fetchGroupBytes = 1 << 20

// groupRefs splits refs into runs of about fetchGroupBytes, in order, as
// [start, end) index pairs.
func groupRefs(refs []chunk.Ref) [][2]int {
	var out [][2]int
	start, n := 0, 0
	for i, r := range refs {
		if i > start && (n+int(r.Size) > fetchGroupBytes || i-start == MaxFetchBatch) {
			out = append(out, [2]int{start, i})
			start, n = i, 0
		}
		n += int(r.Size)
	}
	if start < len(refs) {
		out = append(out, [2]int{start, len(refs)})
	}
	return out
}

// getChunks fetches refs with as few POST /v1/chunks/fetch as the node's
// answers allow, verifying each chunk as GetChunk does, and returns them
// in order. It takes chunks the node stored in S2 as stored, and decodes
// them itself; should one not decode or verify, it asks for the rest
// raw, which the node decodes and verifies (and so finds a corrupt copy
// of its own, where the client could only fail).
func (c *Client) getChunks(ctx context.Context, refs []chunk.Ref) ([][]byte, error) {
	out := make([][]byte, 0, len(refs))
	// each fetches the rest one request a chunk, as a node of a release
	// before POST /v1/chunks/fetch serves them.
	each := func() ([][]byte, error) {
		for _, r := range refs[len(out):] {
			b, err := c.GetChunk(ctx, r.Digest, r.Size)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	}
	if c.noBatches.Load() {
		return each()
	}
	accept := strconv.Itoa(int(s2Form))
	for len(out) < len(refs) {
		rest := refs[len(out):]
		ds := make([]chunk.Digest, len(rest))
		for i, r := range rest {
			ds[i] = r.Digest
		}
		body, err := json.Marshal(MissingRequest{Digests: ds})
		if err != nil {
			return nil, err
		}
		var limit int64
		for _, r := range rest {
			limit += int64(r.Size) + chunk.DigestSize + binary.MaxVarintLen64 + 1
		}
		resp, err := c.conn.do(ctx, call{method: http.MethodPost, path: "/v1/chunks/fetch", body: body, contentType: "application/json", accept: accept, idempotent: true, maxBody: limit + 1})
		if olderNode(err) {
			c.noBatches.Store(true)
			return each()
		}
		if err != nil {
			return nil, fmt.Errorf("get chunks: %w", err)
		}
		before := len(out)
		err = chunk.ReadBatch(bytes.NewReader(resp.body), chunk.DefaultMaxSize+1, func(d chunk.Digest, v []byte) error {
			i := len(out)
			if i >= len(refs) || d != refs[i].Digest {
				return fmt.Errorf("get chunks: the node answered chunk %s out of order", d.Short())
			}
			b, err := decodeForm(d, refs[i].Size, v, accept != "")
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
		var stored *storedFormError
		if errors.As(err, &stored) && accept != "" {
			accept = "" // the rest raw, checked by the node
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(out) == before {
			return nil, fmt.Errorf("get chunks: the node answered none of %d chunks", len(rest))
		}
	}
	return out, nil
}

// decodeForm returns chunk d (of size bytes) from its form v in a fetch
// answer, verified: raw, or S2 when stored is set (the client asked for
// stored forms). A stored form that does not decode to the chunk is a
// *storedFormError.
func decodeForm(d chunk.Digest, size uint32, v []byte, stored bool) ([]byte, error) {
	switch {
	case v[0] == chunk.RawForm:
		return verifyChunk(d, size, v[1:])
	case v[0] != s2Form || !stored:
		return nil, fmt.Errorf("get chunks: chunk %s in form %d, which was not asked for", d.Short(), v[0])
	}
	// The block says how long it decodes; it must be the chunk's length,
	// which is at most a chunk's (as a raw one is), before any is made.
	if n, err := s2.DecodedLen(v[1:]); err != nil || n != int(size) || n > chunk.DefaultMaxSize {
		return nil, &storedFormError{d, fmt.Errorf("s2 form of %d bytes (%v), want %d", n, err, size)}
	}
	b, err := s2.Decode(make([]byte, size), v[1:])
	if err == nil {
		b, err = verifyChunk(d, size, b)
	}
	if err != nil {
		return nil, &storedFormError{d, err}
	}
	return b, nil
}

// storedFormError is a chunk sent as stored that did not decode to
// itself.
type storedFormError struct {
	d   chunk.Digest
	err error
}

func (e *storedFormError) Error() string {
	return fmt.Sprintf("get chunks: chunk %s as stored: %v", e.d.Short(), e.err)
}

func (e *storedFormError) Unwrap() error { return e.err }
