package mlflowapi

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"cairn/daemon/auth"
	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/raftfsm"
)

// Prefix is where MLflow's proxied artifact API lives.
const Prefix = "/api/2.0/mlflow-artifacts/"

// Config configures the MLflow API.
type Config struct {
	// Bucket holds what the API writes.
	Bucket string
	// ConsistentReads makes reads confirm leadership (or go through the
	// leader) before answering.
	ConsistentReads bool
	// Auth authenticates requests (HTTP Basic with an access key, as
	// MLFLOW_TRACKING_USERNAME and _PASSWORD send it, or a bearer token).
	// Part URLs carry their own signature instead.
	Auth *auth.Keys
	// PartKey signs the part URLs of multipart uploads; every node of a
	// cluster must have the same.
	PartKey []byte
	Logger  *slog.Logger
}

// API answers MLflow's proxied artifact API. It is safe for concurrent
// use.
type API struct {
	cfg  Config
	node *core.Node
	log  *slog.Logger
}

// New returns the MLflow API of node.
func New(node *core.Node, cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &API{cfg: cfg, node: node, log: cfg.Logger}
}

// ServeHTTP answers MLflow's proxied artifact API: artifacts/<path> (PUT,
// GET, DELETE), artifacts?path= (list), and mpu/{create,complete,abort}/
// <path> plus the part URLs mpu/create hands out.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := a.route(w, r, strings.TrimPrefix(r.URL.EscapedPath(), Prefix)); err != nil {
		a.writeError(w, r, err)
	}
}

func (a *API) route(w http.ResponseWriter, r *http.Request, rest string) error {
	httpx.SetOperation(r.Context(), operation(r, rest))
	if strings.HasPrefix(rest, "mpu/part") {
		return a.mpuPart(w, r) // authenticated by the signed URL itself
	}
	id, err := a.cfg.Auth.Authenticate(r)
	if err == nil {
		need := auth.Write
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			need = auth.Read
		}
		err = id.Require(need, a.cfg.Bucket)
	}
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
		}
		return err
	}
	if err := a.node.EnsureBucket(r.Context(), a.cfg.Bucket); err != nil {
		return err
	}
	switch {
	case rest == "artifacts" || rest == "artifacts/":
		if r.Method != http.MethodGet {
			return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed", r.Method)
		}
		return a.list(w, r, r.URL.Query().Get("path"))
	case strings.HasPrefix(rest, "artifacts/"):
		p, err := url.PathUnescape(strings.TrimPrefix(rest, "artifacts/"))
		if err != nil {
			return apierr.BadRequest("InvalidKey", "bad escape in path")
		}
		return a.artifact(w, r, p)
	case strings.HasPrefix(rest, "mpu/"):
		return a.multipart(w, r, strings.TrimPrefix(rest, "mpu/"))
	}
	return apierr.New(http.StatusNotFound, "NoSuchRoute", "no route %s%s", Prefix, rest)
}

// writeError answers in MLflow's JSON error form; a server error is logged
// once, with the request id. A missing file is 404
// RESOURCE_DOES_NOT_EXIST, which the MLflow client does not retry (mlflow
// server answers 500, which it retries for minutes).
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := apierr.Classify(err)
	if e.Status >= 500 {
		a.log.Error("mlflow request failed", "request_id", httpx.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	}
	code := "INTERNAL_ERROR"
	switch {
	case e.Status == http.StatusNotFound:
		code = "RESOURCE_DOES_NOT_EXIST"
	case e.Status == http.StatusNotImplemented:
		code = "NOT_IMPLEMENTED"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		code = "PERMISSION_DENIED"
	case e.Status/100 == 4:
		code = "INVALID_PARAMETER_VALUE"
	case e.Status == http.StatusServiceUnavailable:
		code = "TEMPORARILY_UNAVAILABLE"
	}
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	httpx.WriteJSON(w, e.Status, map[string]string{"error_code": code, "message": e.Message})
}

func (a *API) artifact(w http.ResponseWriter, r *http.Request, key string) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodPut:
		if err := checkArtifactPath(key); err != nil {
			return err
		}
		_, err := a.node.Put(ctx, core.PutRequest{
			Bucket: a.cfg.Bucket, Key: key, Body: r.Body, Length: r.ContentLength,
			Meta: raftfsm.ObjectMeta{ContentType: r.Header.Get("Content-Type")},
		})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, struct{}{})
	case http.MethodGet, http.MethodHead:
		o, rec, err := a.node.Lookup(ctx, a.cfg.Bucket, key, a.cfg.ConsistentReads)
		if err != nil {
			return err
		}
		content, err := a.node.Content(ctx, rec.Recipe, 0)
		if err != nil {
			return err
		}
		defer content.Close()
		_, base := path.Split(key)
		ct := mime.TypeByExtension(path.Ext(base))
		if ct == "" {
			ct = "application/octet-stream"
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": base}))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", o.Meta.ETag)
		h.Set("X-Cairn-Digest", o.Digest.String())
		httpx.Send(w, r, content, o.Size, http.StatusOK, a.log)
	case http.MethodDelete:
		// mlflow gc and MlflowClient.delete_artifacts delete a file or a
		// whole folder.
		if _, err := a.node.Propose(ctx, &raftfsm.DeleteObject{Bucket: a.cfg.Bucket, Key: key}); err != nil {
			return err
		}
		if _, err := a.node.DeletePrefix(ctx, a.cfg.Bucket, strings.TrimSuffix(key, "/")+"/"); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, struct{}{})
	default:
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed", r.Method)
	}
	return nil
}

// checkArtifactPath refuses a path that names no file of an artifact
// tree: one with an empty segment (a leading or trailing "/", or "//").
// MLflow never sends one; stored, it would show in listings as a "."
// folder, through this API and through MLflow's S3 artifact repository.
func checkArtifactPath(p string) error {
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			return apierr.InvalidArgument("path", p, "artifact path %q has an empty segment", p)
		}
	}
	return nil
}

// file is one entry of an artifact listing.
type file struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

// list lists the immediate children of a folder, by base name. An empty
// or missing folder, and a path that names a file, answer {}: the client
// decides "folder?" by whether the list is empty.
func (a *API) list(w http.ResponseWriter, r *http.Request, p string) error {
	p = strings.Trim(p, "/")
	prefix := ""
	if p != "" {
		if err := core.CheckKey(p); err != nil {
			return err
		}
		prefix = p + "/"
	}
	if a.cfg.ConsistentReads {
		if err := a.node.ReadBarrier(r.Context()); err != nil {
			return err
		}
	}
	var files []file
	after := ""
	for {
		page, err := a.node.State().List(a.cfg.Bucket, raftfsm.ListOptions{Prefix: prefix, Delimiter: "/", StartAfter: after})
		if err != nil {
			return err
		}
		// An entry with an empty name, the folder itself, is left out:
		// MLflow would show it as a "." folder. S3 clients can write one:
		// a folder marker (a key ending in "/" that is the folder's own
		// prefix), or a key with an empty segment ("a//b") below it.
		for _, cp := range page.CommonPrefixes {
			if name := strings.TrimSuffix(strings.TrimPrefix(cp, prefix), "/"); name != "" {
				files = append(files, file{Path: name, IsDir: true})
			}
		}
		for _, o := range page.Objects {
			size := o.Size
			if name := strings.TrimPrefix(o.Key, prefix); name != "" {
				files = append(files, file{Path: name, FileSize: &size})
			}
		}
		if !page.Truncated {
			break
		}
		after = page.Next
	}
	if len(files) == 0 {
		httpx.WriteJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string][]file{"files": files})
	return nil
}

// operation names what a request does, for the latency metrics.
func operation(r *http.Request, rest string) string {
	switch {
	case strings.HasPrefix(rest, "mpu/part"):
		return "part_put"
	case strings.HasPrefix(rest, "mpu/"):
		return "multipart"
	case rest == "artifacts" || rest == "artifacts/":
		return "list"
	case r.Method == http.MethodPut:
		return "object_put"
	case r.Method == http.MethodDelete:
		return "object_delete"
	}
	return "object_get"
}
