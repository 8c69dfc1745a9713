package client

import (
	"context"
	"fmt"
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
