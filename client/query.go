package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ListOptions select a page of a bucket listing.
type ListOptions struct {
	Prefix string
	// Delimiter, usually "/", groups the keys below the next delimiter
	// into CommonPrefixes.
	Delimiter string
	// StartAfter resumes a listing: pass the previous page's Next.
	StartAfter string
	Limit      int // 0: the server's default (1000)
	// Consistent asks the leader to confirm the listing is current.
	Consistent bool
	// omitETags leaves out the ETags the node has not computed yet
	// (downloads need only the keys).
	omitETags bool
}

func (o ListOptions) values() url.Values {
	q := url.Values{}
	set(q, "prefix", o.Prefix)
	set(q, "delimiter", o.Delimiter)
	set(q, "start_after", o.StartAfter)
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Consistent {
		q.Set("consistent", "true")
	}
	if o.omitETags {
		q.Set("etag", "omit")
	}
	return q
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// List returns one page of the keys of a bucket.
func (c *Client) List(ctx context.Context, bucket string, opts ListOptions) (ListResult, error) {
	var out ListResult
	err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/objects/" + url.PathEscape(bucket) + "/", query: opts.values(), idempotent: true}, nil, &out)
	if err != nil {
		return out, fmt.Errorf("list %s/%s: %w", bucket, opts.Prefix, err)
	}
	return out, nil
}

// ListAll iterates over every object of a bucket that opts select, page
// by page; common prefixes are skipped. It stops at the first error, which
// it yields.
func (c *Client) ListAll(ctx context.Context, bucket string, opts ListOptions) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		for {
			page, err := c.List(ctx, bucket, opts)
			if err != nil {
				yield(Object{}, err)
				return
			}
			for _, o := range page.Objects {
				if !yield(o, nil) {
					return
				}
			}
			if !page.Truncated || page.Next == "" {
				return
			}
			opts.StartAfter = page.Next
		}
	}
}

// Stat returns an object's metadata and recipe.
func (c *Client) Stat(ctx context.Context, bucket, key string) (Stat, error) {
	return c.stat(ctx, bucket, key, false)
}

// stat is Stat; with omitETag the node answers an ETag it has not
// computed yet (an object the Go client committed moments ago) as empty
// instead of reading the object for it: downloads need only the recipe.
func (c *Client) stat(ctx context.Context, bucket, key string, omitETag bool) (Stat, error) {
	var out Stat
	var q url.Values
	if omitETag {
		q = url.Values{"etag": {"omit"}}
	}
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: objectPath("stat", bucket, key), query: q, idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}
	return out, nil
}

// Delete deletes a key and returns how many objects it deleted (0 or 1).
func (c *Client) Delete(ctx context.Context, bucket, key string) (int, error) {
	var out DeleteResult
	if err := c.conn.callJSON(ctx, call{method: http.MethodDelete, path: objectPath("objects", bucket, key), idempotent: true}, nil, &out); err != nil {
		return 0, fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return out.Deleted, nil
}

// DeletePrefix deletes every key of a bucket that starts with prefix,
// which must not be empty, and returns how many it deleted.
func (c *Client) DeletePrefix(ctx context.Context, bucket, prefix string) (int, error) {
	if prefix == "" {
		return 0, fmt.Errorf("delete %s/: %w: empty prefix", bucket, ErrInvalidRequest)
	}
	var out DeleteResult
	q := url.Values{"prefix": {prefix}}
	if err := c.conn.callJSON(ctx, call{method: http.MethodDelete, path: "/v1/objects/" + url.PathEscape(bucket) + "/", query: q, idempotent: true}, nil, &out); err != nil {
		return 0, fmt.Errorf("delete %s/%s*: %w", bucket, prefix, err)
	}
	return out.Deleted, nil
}

// Buckets lists the buckets.
func (c *Client) Buckets(ctx context.Context) ([]Bucket, error) {
	var out []Bucket
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/buckets/", idempotent: true}, nil, &out); err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return out, nil
}

// Bucket describes one bucket.
func (c *Client) Bucket(ctx context.Context, name string) (Bucket, error) {
	var out Bucket
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/buckets/" + url.PathEscape(name), idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("get bucket %s: %w", name, err)
	}
	return out, nil
}

// BucketOptions qualify CreateBucket.
type BucketOptions struct {
	// IfNotExists makes creating an existing bucket a success, and the
	// call safe to retry.
	IfNotExists bool
}

// CreateBucket creates a bucket. Without IfNotExists an existing bucket is
// an error matching ErrConflict.
func (c *Client) CreateBucket(ctx context.Context, name string, opts BucketOptions) (Bucket, error) {
	cl := call{method: http.MethodPut, path: "/v1/buckets/" + url.PathEscape(name), idempotent: opts.IfNotExists}
	if opts.IfNotExists {
		cl.query = url.Values{"if_not_exists": {"true"}}
	}
	var out Bucket
	if err := c.conn.callJSON(ctx, cl, nil, &out); err != nil {
		return out, fmt.Errorf("create bucket %s: %w", name, err)
	}
	return out, nil
}

// DeleteBucket deletes an empty bucket.
func (c *Client) DeleteBucket(ctx context.Context, name string) error {
	if err := c.conn.callJSON(ctx, call{method: http.MethodDelete, path: "/v1/buckets/" + url.PathEscape(name)}, nil, nil); err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	return nil
}

// ModelFilter selects indexed models; zero fields select everything.
type ModelFilter struct {
	Bucket string
	RunID  string
	Flavor string // such as "xgboost"
	ID     string // model_id or model_uuid
	Since  time.Time
	Until  time.Time
	// Errors includes MLmodel files that did not parse.
	Errors bool
	Limit  int
}

// Models lists indexed MLmodel files.
func (c *Client) Models(ctx context.Context, f ModelFilter) ([]Model, error) {
	q := url.Values{}
	set(q, "bucket", f.Bucket)
	set(q, "run_id", f.RunID)
	set(q, "flavor", f.Flavor)
	set(q, "id", f.ID)
	if !f.Since.IsZero() {
		q.Set("since", strconv.FormatInt(f.Since.UnixMilli(), 10))
	}
	if !f.Until.IsZero() {
		q.Set("until", strconv.FormatInt(f.Until.UnixMilli(), 10))
	}
	if f.Errors {
		q.Set("errors", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []Model
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/models/", query: q, idempotent: true}, nil, &out); err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return out, nil
}

// Model returns the model with the given model_id or model_uuid.
func (c *Client) Model(ctx context.Context, id string) (Model, error) {
	var out Model
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/models/" + url.PathEscape(id), idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("get model %s: %w", id, err)
	}
	return out, nil
}

// RunFilter selects runs; zero fields select everything.
type RunFilter struct {
	ExperimentID string
	Bucket       string
	Kind         string // "run" or "model"
	Limit        int
}

// Runs lists the runs (and MLflow 3 logged models) the store holds.
func (c *Client) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	q := url.Values{}
	set(q, "experiment_id", f.ExperimentID)
	set(q, "bucket", f.Bucket)
	set(q, "kind", f.Kind)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []Run
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/runs/", query: q, idempotent: true}, nil, &out); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// Run returns a run by id: one entry per bucket that holds its artifacts.
func (c *Client) Run(ctx context.Context, id string) ([]Run, error) {
	var out []Run
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/runs/" + url.PathEscape(id), idempotent: true}, nil, &out); err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	return out, nil
}

// Artifacts lists a run's files under path ("" for all of them).
func (c *Client) Artifacts(ctx context.Context, runID, path string) ([]Artifact, error) {
	q := url.Values{}
	set(q, "path", path)
	var out []Artifact
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/runs/" + url.PathEscape(runID) + "/artifacts", query: q, idempotent: true}, nil, &out); err != nil {
		return nil, fmt.Errorf("list artifacts of run %s: %w", runID, err)
	}
	return out, nil
}

// Stats returns what the store holds and what deduplication saves, with
// the top runs and most shared files (top 0: the server's default, 10).
func (c *Client) Stats(ctx context.Context, top int) (Stats, error) {
	q := url.Values{}
	if top > 0 {
		q.Set("top", strconv.Itoa(top))
	}
	var out Stats
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/stats", query: q, idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("get stats: %w", err)
	}
	return out, nil
}

// Resolve returns what a runs:/, models:/, s3:// or bucket/key URI names:
// an object, or a key prefix when it names a folder.
func (c *Client) Resolve(ctx context.Context, uri string) (Resolved, error) {
	var out Resolved
	if _, err := ParseURI(uri); err != nil {
		return out, err
	}
	if err := c.conn.callJSON(ctx, call{method: http.MethodGet, path: "/v1/resolve", query: url.Values{"uri": {uri}}, idempotent: true}, nil, &out); err != nil {
		return out, fmt.Errorf("resolve %s: %w", uri, err)
	}
	return out, nil
}
