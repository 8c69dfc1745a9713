package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Admin is the part of the native API that needs an admin key: the
// cluster's access keys and its membership. It shares its Client's
// endpoints, credentials and retries.
type Admin struct{ c *Client }

// Admin returns the admin calls of c.
func (c *Client) Admin() *Admin { return &Admin{c: c} }

// ClusterStatus returns the members of the cluster and how far each is
// behind.
func (a *Admin) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	var out ClusterStatus
	if err := a.c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/cluster/status", idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("get cluster status: %w", err)
	}
	return out, nil
}

// AddNode asks the cluster to add a node. It is not retried when its
// outcome is unknown.
func (a *Admin) AddNode(ctx context.Context, req JoinRequest) error {
	if err := a.c.conn.callJSON(ctx, call{method: http.MethodPost, path: "/v1/cluster/join"}, req, nil); err != nil {
		return fmt.Errorf("add node %s: %w", req.ID, err)
	}
	return nil
}

// RemoveNode asks the cluster to remove a node. It is not retried when its
// outcome is unknown.
func (a *Admin) RemoveNode(ctx context.Context, id string) error {
	if err := a.c.conn.callJSON(ctx, call{method: http.MethodPost, path: "/v1/cluster/remove"}, JoinRequest{ID: id}, nil); err != nil {
		return fmt.Errorf("remove node %s: %w", id, err)
	}
	return nil
}

// Keys lists the cluster's access keys, without their secrets.
func (a *Admin) Keys(ctx context.Context) ([]AccessKey, error) {
	var out []AccessKey
	if err := a.c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/keys", idempotent: true}, nil, &out); err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	return out, nil
}

// CreateKey creates an access key; the answer holds its secret, which the
// cluster never shows again.
func (a *Admin) CreateKey(ctx context.Context, req KeyRequest) (AccessKey, error) {
	var out AccessKey
	if err := a.c.conn.callJSON(ctx, call{method: http.MethodPost, path: "/v1/keys"}, req, &out); err != nil {
		return out, fmt.Errorf("create access key: %w", err)
	}
	return out, nil
}

// DeleteKey deletes an access key: every node refuses it from then on.
func (a *Admin) DeleteKey(ctx context.Context, id string) error {
	cl := call{method: http.MethodDelete, path: "/v1/keys/" + url.PathEscape(id), idempotent: true}
	if err := a.c.conn.callJSON(ctx, cl, nil, nil); err != nil {
		return fmt.Errorf("delete access key %s: %w", id, err)
	}
	return nil
}

// Backup writes the cluster's state, consistent at one applied index, to
// w in the backup stream format (ScanBackup reads it), from whichever
// node answers, and returns the bytes written. The stream ends with its
// own BLAKE3 digest, so a copy cut short does not check out.
func (a *Admin) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := a.c.conn.stream(ctx, call{method: http.MethodGet, path: "/v1/admin/backup", idempotent: true}, nil, 0)
	if err != nil {
		return 0, fmt.Errorf("back up the state: %w", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("back up the state: after %d bytes: %w", n, err)
	}
	return n, nil
}

// Restore replaces the whole cluster's state with the backup of size
// bytes that body returns (from its start, once per attempt: a node that
// does not lead refuses it, and the call moves to the next endpoint).
// It is not retried when its outcome is unknown.
func (a *Admin) Restore(ctx context.Context, body func() (io.Reader, error), size int64) (RestoreResult, error) {
	var out RestoreResult
	cl := call{method: http.MethodPost, path: "/v1/admin/restore", contentType: "application/octet-stream", expectContinue: true}
	resp, err := a.c.conn.stream(ctx, cl, body, size)
	if err != nil {
		return out, fmt.Errorf("restore the state: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorAnswer)).Decode(&out); err != nil {
		return out, fmt.Errorf("restore the state: decode the answer: %v", err)
	}
	return out, nil
}

// GCOptions qualify a garbage-collection pass.
type GCOptions struct {
	// Full walks every local chunk instead of the zero-reference table.
	Full bool
}

// GC runs one garbage-collection pass on the node that answers. It is
// idempotent.
func (a *Admin) GC(ctx context.Context, opts GCOptions) (GCResult, error) {
	var out GCResult
	cl := call{method: http.MethodPost, path: "/v1/admin/gc", idempotent: true}
	if opts.Full {
		cl.query = url.Values{"full": {"1"}}
	}
	if err := a.c.conn.callJSON(ctx, cl, nil, &out); err != nil {
		return out, fmt.Errorf("collect garbage: %w", err)
	}
	return out, nil
}

// Scrub verifies every chunk of the node that answers; it replaces
// corrupt ones from its peers.
func (a *Admin) Scrub(ctx context.Context) (ScrubResult, error) {
	var out ScrubResult
	if err := a.c.conn.callJSON(ctx, call{method: http.MethodPost, path: "/v1/admin/scrub", idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("scrub: %w", err)
	}
	return out, nil
}

// Reclaim has the node that answers give back the space of its deleted
// chunks at once.
func (a *Admin) Reclaim(ctx context.Context) (ReclaimResult, error) {
	var out ReclaimResult
	if err := a.c.conn.callJSON(ctx, call{method: http.MethodPost, path: "/v1/admin/reclaim", idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("reclaim space: %w", err)
	}
	return out, nil
}

// Tier runs one pass of the cold tier on the node that answers: on the
// leader it copies cold chunks to the tier's bucket; every node drops its
// copies of tiered chunks gone unread. It is idempotent.
func (a *Admin) Tier(ctx context.Context) (TierResult, error) {
	var out TierResult
	if err := a.c.conn.callJSON(ctx, call{method: http.MethodPost, path: "/v1/admin/tier", idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("cold tier pass: %w", err)
	}
	return out, nil
}
