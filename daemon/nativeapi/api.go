package nativeapi

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cairn/client"
	"cairn/daemon/auth"
	"cairn/daemon/cluster"
	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/upkeep"
)

// Prefix is where the native API lives.
const Prefix = "/v1/"

// Config configures the native API.
type Config struct {
	// Auth authenticates requests: an access key as HTTP Basic
	// credentials or as the bearer token "id:secret".
	Auth *auth.Keys
	// Sealer seals the secrets of the access keys the keys routes create.
	Sealer *auth.Sealer
	// MaxRestoreSize bounds a backup sent to admin/restore.
	MaxRestoreSize int64
	Logger         *slog.Logger
}

// API answers the native API. It is safe for concurrent use.
type API struct {
	cfg     Config
	node    *core.Node
	upkeep  *upkeep.Upkeep
	members *cluster.Membership
	log     *slog.Logger
}

// New returns the native API of node; the admin routes run upkeep's work
// and the cluster routes go to members.
func New(node *core.Node, u *upkeep.Upkeep, members *cluster.Membership, cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &API{cfg: cfg, node: node, upkeep: u, members: members, log: cfg.Logger}
}

// ServeHTTP answers a request under /v1/; errors are answered as JSON
// (client.Error), by writeError alone.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := a.route(w, r, strings.TrimPrefix(r.URL.EscapedPath(), Prefix)); err != nil {
		a.writeError(w, r, err)
	}
}

// route authenticates the request, checks that its key may use the route
// (access.go), and dispatches by the first segment; rest is the escaped
// path after /v1/.
func (a *API) route(w http.ResponseWriter, r *http.Request, rest string) error {
	route, tail, _ := strings.Cut(rest, "/")
	bucket, key, err := splitBucketPath(tail)
	if err != nil {
		return err
	}
	httpx.SetOperation(r.Context(), operation(r, route, key, tail))
	id, err := a.cfg.Auth.Authenticate(r)
	if err != nil {
		return err
	}
	if err := authorize(id, r, route, bucket, tail); err != nil {
		return err
	}
	r = r.WithContext(withIdentity(r.Context(), id))
	switch route {
	case "objects":
		switch {
		case bucket == "":
			return apierr.BadRequest("InvalidRequest", "missing bucket")
		case key == "" && r.Method == http.MethodGet:
			return a.list(w, r, bucket)
		case key == "" && r.Method == http.MethodDelete:
			return a.deletePrefix(w, r, bucket)
		case key == "":
			return apierr.BadRequest("InvalidRequest", "missing key")
		}
		return a.object(w, r, bucket, key)
	case "stat":
		return a.stat(w, r, bucket, key)
	case "commit":
		return a.commit(w, r, bucket, key)
	case "chunks":
		return a.chunks(w, r, tail)
	case "buckets":
		return a.buckets(w, r, bucket)
	case "resolve":
		return a.resolveURI(w, r)
	case "runs":
		return a.runs(w, r, bucket, key)
	case "models":
		return a.models(w, r, bucket)
	case "stats":
		return a.statsRoute(w, r)
	case "refs":
		return a.refs(w, r, tail)
	case "cluster":
		return a.cluster(w, r, tail)
	case "admin":
		return a.admin(w, r, tail)
	case "keys":
		return a.keys(w, r, tail)
	}
	return apierr.New(http.StatusNotFound, "NoSuchRoute", "no route /v1/%s", rest)
}

// writeError answers with the error as client.Error JSON; a server error
// is logged once, with the request id.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := apierr.Classify(err)
	if e.Status >= 500 {
		a.log.Error("request failed", "request_id", httpx.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	}
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
	}
	httpx.WriteJSON(w, e.Status, client.Error{Code: e.Code, Message: e.Message})
}

// splitBucketPath splits "bucket/key..." (escaped) into its unescaped
// bucket and key.
func splitBucketPath(p string) (string, string, error) {
	b, k, _ := strings.Cut(p, "/")
	bucket, err := url.PathUnescape(b)
	if err != nil {
		return "", "", apierr.BadRequest("InvalidRequest", "bad escape in bucket: %v", err)
	}
	key, err := url.PathUnescape(k)
	if err != nil {
		return "", "", apierr.BadRequest("InvalidKey", "bad escape in key: %v", err)
	}
	return bucket, key, nil
}

func consistentRead(r *http.Request, dflt bool) bool {
	v := r.URL.Query().Get("consistent")
	if v == "" {
		return dflt
	}
	b, _ := strconv.ParseBool(v)
	return b
}
