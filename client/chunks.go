package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"

	"cairn/cas/chunk"
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
// in order.
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
		resp, err := c.conn.do(ctx, call{method: http.MethodPost, path: "/v1/chunks/fetch", body: body, contentType: "application/json", idempotent: true, maxBody: limit + 1})
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
			if v[0] != chunk.RawForm {
				return fmt.Errorf("get chunks: chunk %s in form %d, not raw", d.Short(), v[0])
			}
			b, err := verifyChunk(d, refs[i].Size, v[1:])
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == before {
			return nil, fmt.Errorf("get chunks: the node answered none of %d chunks", len(rest))
		}
	}
	return out, nil
}
