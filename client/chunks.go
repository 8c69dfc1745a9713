package client

import (
	"context"
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
	b := resp.body
	if size != 0 && len(b) != int(size) {
		return nil, fmt.Errorf("verify chunk %s: %w: got %d bytes, want %d", d, ErrDigestMismatch, len(b), size)
	}
	if got := chunk.Sum(b); got != d {
		return nil, fmt.Errorf("verify chunk %s: %w: the bytes received hash to %s", d, ErrDigestMismatch, got)
	}
	return b, nil
}
