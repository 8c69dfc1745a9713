package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/client"
	"cairn/raftfsm"
)

// Client speaks the peer protocol to other nodes' cluster ports. It is
// safe for concurrent use.
type Client struct {
	dialer Dialer
	http   *http.Client
}

// NewClient returns a client that dials peers with d, which authenticates
// every connection.
func NewClient(d Dialer) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return d.dial(ctx, addr, protoPeer)
		},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     time.Minute,
	}
	return &Client{dialer: d, http: &http.Client{Transport: tr}}
}

// Do sends a request to a node's cluster address and decodes a JSON
// answer into out (when not nil); an error answer becomes the error it
// stands for.
func (c *Client) Do(ctx context.Context, method, addr, path string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, addr, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if b, ok := out.(*[]byte); ok {
		*b, err = io.ReadAll(io.LimitReader(resp.Body, 2*int64(chunk.DefaultMaxSize)))
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send sends a request and returns a 2xx answer for the caller to read
// and close; other answers become the errors they stand for.
func (c *Client) send(ctx context.Context, method, addr, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(headerCodecs, "2")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer %s %s: %w", addr, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e client.Error
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return nil, decodeError(resp.StatusCode, e)
	}
	return resp, nil
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// applyResult carries a raftfsm.Result between nodes.
type applyResult struct {
	Index   uint64             `json:"index"`
	Code    string             `json:"code,omitempty"`
	Message string             `json:"message,omitempty"`
	Object  *raftfsm.Object    `json:"object,omitempty"`
	Objects []*raftfsm.Object  `json:"objects,omitempty"`
	Bucket  *raftfsm.Bucket    `json:"bucket,omitempty"`
	Ref     *raftfsm.Ref       `json:"ref,omitempty"`
	Upload  *raftfsm.Upload    `json:"upload,omitempty"`
	Key     *raftfsm.AccessKey `json:"key,omitempty"`
	Deleted int                `json:"deleted,omitempty"`
	More    bool               `json:"more,omitempty"`
}

// Apply asks the node at addr, the leader, to apply an encoded command,
// and returns its result; a command the state rejected comes back in
// Result.Err, a command the leader could not propose as the error.
func (c *Client) Apply(ctx context.Context, addr string, cmd []byte) (raftfsm.Result, error) {
	var out applyResult
	if err := c.Do(ctx, http.MethodPost, addr, "/peer/apply", bytes.NewReader(cmd), &out); err != nil {
		return raftfsm.Result{}, err
	}
	res := raftfsm.Result{Index: out.Index, Object: out.Object, Objects: out.Objects, Bucket: out.Bucket, Ref: out.Ref, Upload: out.Upload, Key: out.Key, Deleted: out.Deleted, More: out.More}
	if out.Code != "" {
		res.Err = raftfsm.FromCode(out.Code, out.Message)
	}
	return res, nil
}

// Index asks the leader at addr for an index that covers every write it
// acknowledged.
func (c *Client) Index(ctx context.Context, addr string) (uint64, error) {
	var out map[string]uint64
	if err := c.Do(ctx, http.MethodGet, addr, "/peer/index", nil, &out); err != nil {
		return 0, err
	}
	return out["index"], nil
}

// Missing returns which of ds (at most MaxAsk) the node at addr lacks.
// The chunks it does not list, it holds synced to disk.
func (c *Client) Missing(ctx context.Context, addr string, ds []chunk.Digest) ([]chunk.Digest, error) {
	var res client.MissingResult
	if err := c.Do(ctx, http.MethodPost, addr, "/peer/missing", jsonBody(client.MissingRequest{Digests: ds}), &res); err != nil {
		return nil, err
	}
	return res.Missing, nil
}

// Lacks is Missing for garbage collection: the node at addr does not
// count the question as a writer's, which would keep the chunks it holds
// from its own GC for the grace period. (A node from before the question
// existed ignores the flag and keeps them: GC there is only later.)
func (c *Client) Lacks(ctx context.Context, addr string, ds []chunk.Digest) ([]chunk.Digest, error) {
	var res client.MissingResult
	if err := c.Do(ctx, http.MethodPost, addr, "/peer/missing?peek=1", jsonBody(client.MissingRequest{Digests: ds}), &res); err != nil {
		return nil, err
	}
	return res.Missing, nil
}

// Push sends the node at addr an encoded batch of chunks; it returns once
// the node has verified and synced them.
func (c *Client) Push(ctx context.Context, addr string, batch []byte) error {
	return c.Do(ctx, http.MethodPost, addr, "/peer/chunks", bytes.NewReader(batch), nil)
}

// headerTruncated marks a fetch answer that stopped at BatchBytes before
// the end of the list asked for.
const headerTruncated = client.HeaderTruncated

// Fetch asks the node at addr for the listed chunks (at most MaxAsk) in
// their stored form, unverified: the caller checks each before it keeps
// it. looked is how many of the list the peer looked at: those it looked
// at and did not send, it lacks.
func (c *Client) Fetch(ctx context.Context, addr string, ds []chunk.Digest, maxChunk int) (cs []cas.StoredChunk, looked int, err error) {
	resp, err := c.send(ctx, http.MethodPost, addr, "/peer/fetch", jsonBody(client.MissingRequest{Digests: ds}))
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	looked = len(ds)
	if v := resp.Header.Get(headerTruncated); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= len(ds) {
			looked = n
		}
	}
	cs, err = DecodeBatch(io.LimitReader(resp.Body, MaxBatchBody), MaxStored(maxChunk))
	if err != nil {
		return nil, 0, fmt.Errorf("fetch from %s: %w", addr, err)
	}
	asked := make(map[chunk.Digest]bool, looked)
	for _, d := range ds[:looked] {
		asked[d] = true
	}
	for _, c := range cs {
		if !asked[c.Digest] {
			return nil, 0, fmt.Errorf("fetch from %s: chunk %s was not asked for", addr, c.Digest.Short())
		}
	}
	return cs, looked, nil
}

// Chunk asks the node at addr for one chunk in its stored form, the way
// nodes did before Fetch: during a rolling upgrade, an older peer knows
// only that.
func (c *Client) Chunk(ctx context.Context, addr string, d chunk.Digest) ([]byte, error) {
	var b []byte
	err := c.Do(ctx, http.MethodGet, addr, "/peer/chunks/"+d.String(), nil, &b)
	return b, err
}

// Status asks the node at addr for its status.
func (c *Client) Status(ctx context.Context, addr string) (client.NodeStatus, error) {
	var n client.NodeStatus
	err := c.Do(ctx, http.MethodGet, addr, "/peer/status", nil, &n)
	return n, err
}

// ChangeMembership asks the node at addr, the leader, to add ("join") or
// remove a member.
func (c *Client) ChangeMembership(ctx context.Context, addr, op string, req client.JoinRequest) error {
	return c.Do(ctx, http.MethodPost, addr, "/peer/"+op, jsonBody(req), nil)
}
