package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxJSONResponse bounds a JSON answer the client reads.
const maxJSONResponse = 256 << 20

// call is one request of the native API.
type call struct {
	method string
	path   string // escaped, from "/v1/"
	query  url.Values
	body   []byte
	// idempotent calls are retried when their outcome is unknown; the
	// others are retried only when they surely did not reach a server.
	idempotent  bool
	contentType string
	// accept, when set, is the request's Cairn-Accept-Forms header.
	accept  string
	maxBody int64
	// expectContinue sends the body only once the server asks for it, so
	// that a node that refuses the call at once is not sent a large body.
	expectContinue bool
}

// response is a whole answer, body included.
type response struct {
	status int
	header http.Header
	body   []byte
}

// outcome sorts what one attempt on one endpoint gave.
type outcome int

const (
	done      outcome = iota // an answer to return, success or definite error
	fatal                    // an error to return at once (the caller's ctx ended)
	notSent                  // the request reached no server: try the next endpoint
	refused                  // the server refused it without acting (503, 429)
	uncertain                // sent, and the answer was lost or says outcome unknown
	failed                   // a server error (500): retry only an idempotent call
)

type attempt struct {
	kind       outcome
	resp       *response
	err        error
	retryAfter time.Duration
}

// do sends a call with failover and retries: an attempt that reached no
// server or that a server refused moves on to the next endpoint; after a
// round over all endpoints the client backs off and tries again, up to
// Retries more rounds. A call whose outcome is unknown is retried only when
// it is idempotent, and otherwise returned wrapping ErrUnknownOutcome. A
// definite error answer comes back as an *APIError.
func (c *conn) do(ctx context.Context, cl call) (*response, error) {
	n := len(c.endpoints)
	for round := 0; ; round++ {
		start := int(c.preferred.Load()) % n
		var lastErr error
		var wait time.Duration
		for i := range n {
			ep := (start + i) % n
			a := c.try(ctx, ep, cl)
			switch {
			case a.kind == done:
				c.preferred.Store(int32(ep))
				return a.resp, a.err
			case a.kind == fatal:
				return nil, a.err
			case a.kind == uncertain && !cl.idempotent:
				return nil, fmt.Errorf("%s %s: %w: %w", cl.method, cl.path, ErrUnknownOutcome, a.err)
			case a.kind == failed && !cl.idempotent:
				return nil, a.err
			}
			c.preferred.CompareAndSwap(int32(ep), int32((ep+1)%n))
			lastErr, wait = a.err, max(wait, a.retryAfter)
			c.log.Debug("request failed; trying the next endpoint", "method", cl.method, "path", cl.path,
				"endpoint", c.endpoints[ep].Host, "err", a.err)
		}
		if round >= c.cfg.Retries || wait > c.cfg.MaxRetryAfter {
			return nil, fmt.Errorf("%s %s: %w after %d attempts: %w", cl.method, cl.path, ErrUnavailable, (round+1)*n, lastErr)
		}
		if err := c.cfg.Sleep(ctx, c.backoff(round+1, wait)); err != nil {
			return nil, fmt.Errorf("%s %s: %w", cl.method, cl.path, err)
		}
	}
}

// try makes one attempt on endpoint ep.
func (c *conn) try(ctx context.Context, ep int, cl call) attempt {
	var sent atomic.Bool
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { sent.Store(i.Err == nil) },
	})
	req, err := c.newRequest(tctx, ep, cl)
	if err != nil {
		return attempt{kind: fatal, err: err}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.lost(ctx, cl, sent.Load(), err)
	}
	defer resp.Body.Close()
	limit := cl.maxBody
	if limit <= 0 {
		limit = maxJSONResponse
	}
	body, err := readBody(resp, limit)
	if err != nil {
		return c.lost(ctx, cl, true, fmt.Errorf("read answer from %s: %w", c.endpoints[ep].Host, err))
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: body}
	if resp.StatusCode/100 == 2 {
		return attempt{kind: done, resp: r}
	}
	apiErr := decodeError(resp.StatusCode, body)
	return attempt{kind: outcomeOf(resp.StatusCode, apiErr), resp: r, err: apiErr, retryAfter: retryAfter(resp.Header)}
}

// outcomeOf says what an error answer means for a retry: the status, and
// whether the server said the outcome is unknown.
func outcomeOf(status int, apiErr error) outcome {
	switch {
	case status == http.StatusServiceUnavailable && errors.Is(apiErr, ErrUnknownOutcome):
		return uncertain
	case status == http.StatusServiceUnavailable, status == http.StatusTooManyRequests:
		return refused
	case status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		return uncertain
	case status == http.StatusNotImplemented:
		return done // the same answer every time: a feature the node lacks
	case status >= 500:
		return failed
	}
	return done
}

// lost classifies an attempt that got no complete answer.
func (c *conn) lost(ctx context.Context, cl call, sent bool, err error) attempt {
	if ctx.Err() != nil {
		if sent && !cl.idempotent {
			err = fmt.Errorf("%s %s: %w: %w", cl.method, cl.path, ErrUnknownOutcome, ctx.Err())
		} else {
			err = fmt.Errorf("%s %s: %w", cl.method, cl.path, ctx.Err())
		}
		return attempt{kind: fatal, err: err}
	}
	if !sent {
		return attempt{kind: notSent, err: err}
	}
	return attempt{kind: uncertain, err: err}
}

func (c *conn) newRequest(ctx context.Context, ep int, cl call) (*http.Request, error) {
	u := *c.endpoints[ep]
	u.RawPath = u.EscapedPath() + cl.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", cl.path, err)
	}
	u.Path = p
	u.RawQuery = cl.query.Encode()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", cl.path, err)
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	if cl.accept != "" {
		req.Header.Set(HeaderAcceptForms, cl.accept)
	}
	if cl.contentType != "" {
		req.Header.Set("Content-Type", cl.contentType)
	}
	if cl.expectContinue {
		req.Header.Set("Expect", "100-continue")
	}
	return req, nil
}

// readBody reads a whole answer, allocating once when the length is
// known, and refuses one longer than limit.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("answer of %d bytes is over the %d-byte limit", resp.ContentLength, limit)
	}
	if resp.ContentLength >= 0 {
		b := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("answer over the %d-byte limit", limit)
	}
	return b, err
}

// decodeError turns an error answer into an *APIError.
func decodeError(status int, body []byte) *APIError {
	var e Error
	if json.Unmarshal(body, &e) != nil || e.Code == "" {
		e.Code = strings.ReplaceAll(http.StatusText(status), " ", "")
		e.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	return &APIError{Status: status, Code: e.Code, Message: e.Message}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// callJSON sends a call with in (if not nil) as its JSON body and decodes
// the answer into out (if not nil).
func (c *conn) callJSON(ctx context.Context, cl call, in, out any) error {
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s: %w", cl.path, err)
		}
		cl.body, cl.contentType = b, "application/json"
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		// Say what was wrong in JSON's terms: the Go type it was meant
		// for means nothing to the user (who may have named a server
		// that is not a cairn node).
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			err = fmt.Errorf("unexpected %s", te.Value)
			if te.Field != "" {
				err = fmt.Errorf("unexpected %s in %q", te.Value, te.Field)
			}
		}
		return fmt.Errorf("decode answer of %s %s (is the endpoint a cairn node?): %s", cl.method, cl.path, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// objectPath returns the escaped path /v1/<route>/<bucket>/<key>.
func objectPath(route, bucket, key string) string {
	return "/v1/" + route + "/" + url.PathEscape(bucket) + "/" + escapeKey(key)
}

// escapeKey escapes each segment of a key, keeping its slashes.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
