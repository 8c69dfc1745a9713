package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Refs lists the named refs whose names start with prefix.
func (c *Client) Refs(ctx context.Context, prefix string) ([]Ref, error) {
	q := url.Values{}
	set(q, "prefix", prefix)
	var out []Ref
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/refs/", query: q, idempotent: true}, nil, &out); err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	return out, nil
}

// Ref returns a named ref.
func (c *Client) Ref(ctx context.Context, name string) (Ref, error) {
	var out Ref
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/refs/" + url.PathEscape(name), idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("get ref %s: %w", name, err)
	}
	return out, nil
}

// PutRef points a ref at a target. With req.IfVersion set it is a
// compare-and-swap (version 0: the ref must not exist yet) that fails with
// ErrConflict, and it is not retried when its outcome is unknown; without
// it, setting a ref is idempotent and retried.
func (c *Client) PutRef(ctx context.Context, name string, req RefRequest) (Ref, error) {
	var out Ref
	cl := call{method: http.MethodPut, path: "/v1/refs/" + url.PathEscape(name), idempotent: req.IfVersion == nil}
	if err := c.conn.callJSON(ctx, cl, req, &out); err != nil {
		return out, fmt.Errorf("put ref %s: %w", name, err)
	}
	return out, nil
}

// DeleteRef deletes a ref; with ifVersion set, only if it is at that
// version.
func (c *Client) DeleteRef(ctx context.Context, name string, ifVersion *uint64) error {
	cl := call{method: http.MethodDelete, path: "/v1/refs/" + url.PathEscape(name), idempotent: ifVersion == nil}
	if ifVersion != nil {
		cl.query = url.Values{"if_version": {strconv.FormatUint(*ifVersion, 10)}}
	}
	if err := c.conn.callJSON(ctx, cl, nil, nil); err != nil {
		return fmt.Errorf("delete ref %s: %w", name, err)
	}
	return nil
}
