package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// maxErrorAnswer bounds the error body read from a streamed call.
const maxErrorAnswer = 1 << 20

// stream sends a call whose request or answer body is too large to hold
// in memory: body (nil: none) gives the request body from its start,
// once per attempt, and size is its length. It fails over and retries as
// do does, and returns the open answer of the first 2xx; the caller
// closes its body.
func (c *conn) stream(ctx context.Context, cl call, body func() (io.Reader, error), size int64) (*http.Response, error) {
	n := len(c.endpoints)
	for round := 0; ; round++ {
		start := int(c.preferred.Load()) % n
		var lastErr error
		var wait int64
		for i := range n {
			ep := (start + i) % n
			resp, a := c.tryStream(ctx, ep, cl, body, size)
			switch {
			case resp != nil:
				c.preferred.Store(int32(ep))
				return resp, nil
			case a.kind == done, a.kind == fatal:
				return nil, a.err
			case a.kind == uncertain && !cl.idempotent:
				return nil, fmt.Errorf("%s %s: %w: %w", cl.method, cl.path, ErrUnknownOutcome, a.err)
			case a.kind == failed && !cl.idempotent:
				return nil, a.err
			}
			c.preferred.CompareAndSwap(int32(ep), int32((ep+1)%n))
			lastErr, wait = a.err, max(wait, int64(a.retryAfter))
		}
		if round >= c.cfg.Retries {
			return nil, fmt.Errorf("%s %s: %w after %d attempts: %w", cl.method, cl.path, ErrUnavailable, (round+1)*n, lastErr)
		}
		if err := c.cfg.Sleep(ctx, c.backoff(round+1, 0)); err != nil {
			return nil, fmt.Errorf("%s %s: %w", cl.method, cl.path, err)
		}
	}
}

// tryStream makes one attempt of a streamed call: the open answer on
// success, or how the attempt failed.
func (c *conn) tryStream(ctx context.Context, ep int, cl call, body func() (io.Reader, error), size int64) (*http.Response, attempt) {
	var sent atomic.Bool
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { sent.Store(i.Err == nil) },
	})
	req, err := c.newRequest(tctx, ep, cl)
	if err != nil {
		return nil, attempt{kind: fatal, err: err}
	}
	if body != nil {
		b, err := body()
		if err != nil {
			return nil, attempt{kind: fatal, err: fmt.Errorf("%s %s: %w", cl.method, cl.path, err)}
		}
		req.Body, req.ContentLength = io.NopCloser(b), size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.lost(ctx, cl, sent.Load(), err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, attempt{}
	}
	defer resp.Body.Close()
	b, err := readBody(resp, maxErrorAnswer)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, c.lost(ctx, cl, true, fmt.Errorf("read answer from %s: %w", c.endpoints[ep].Host, err))
	}
	apiErr := decodeError(resp.StatusCode, b)
	return nil, attempt{kind: outcomeOf(resp.StatusCode, apiErr), err: apiErr, retryAfter: retryAfter(resp.Header)}
}
