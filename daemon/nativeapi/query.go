package nativeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cairn/client"
	"cairn/daemon/auth"
	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/raftfsm"
)

// resolve turns a runs:/, models:/ or bucket/key URI into a key or key
// prefix.
func (a *API) resolve(uri string) (client.Resolved, error) {
	st := a.node.State()
	res := client.Resolved{URI: uri}
	var prefix, path string
	switch {
	case strings.HasPrefix(uri, "runs:/"):
		id, p, _ := strings.Cut(strings.TrimLeft(strings.TrimPrefix(uri, "runs:/"), "/"), "/")
		runs, err := st.Run(id)
		if err != nil {
			return res, err
		}
		res.Bucket, prefix, path = runs[0].Bucket, runs[0].Root, p
	case strings.HasPrefix(uri, "models:/"):
		id, p, _ := strings.Cut(strings.TrimLeft(strings.TrimPrefix(uri, "models:/"), "/"), "/")
		if raftfsm.IsModelID(id) {
			if runs, err := st.Run(id); err == nil {
				res.Bucket, prefix, path = runs[0].Bucket, runs[0].Root, p
				break
			}
		}
		e, err := st.ModelByID(id)
		if err != nil {
			return res, err
		}
		res.Bucket, prefix, path = e.Bucket, e.Dir, p
	default:
		b, k, ok := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
		if !ok || b == "" {
			return res, apierr.BadRequest("InvalidURI", "want runs:/<run_id>/<path>, models:/<model_id>[/<path>] or <bucket>/<key>, got %q", uri)
		}
		res.Bucket, path = b, k
	}
	path = strings.Trim(path, "/")
	res.Key = prefix + path
	if path != "" {
		if o, _, err := st.Object(res.Bucket, res.Key); err == nil {
			w := wireObject(o)
			res.Object = &w
			return res, nil
		} else if !errors.Is(err, raftfsm.ErrNotFound) {
			return res, err
		}
		res.Key += "/"
	}
	page, err := st.List(res.Bucket, raftfsm.ListOptions{Prefix: res.Key, Limit: 1})
	if err != nil {
		return res, err
	}
	if len(page.Objects) == 0 {
		return res, fmt.Errorf("%w: nothing stored at %s", core.ErrNoSuchKey, uri)
	}
	res.IsDir = true
	return res, nil
}

func (a *API) resolveURI(w http.ResponseWriter, r *http.Request) error {
	uri := r.URL.Query().Get("uri")
	if uri == "" {
		return apierr.BadRequest("InvalidURI", "missing ?uri=")
	}
	res, err := a.resolve(uri)
	if err != nil {
		return err
	}
	if err := identity(r).Require(auth.Read, res.Bucket); err != nil {
		return err
	}
	if res.Object != nil && res.Object.ETag == "" && !omitETag(r) {
		o, _, err := a.node.Lookup(r.Context(), res.Bucket, res.Object.Key, false)
		if err != nil {
			return err
		}
		*res.Object = wireObject(o)
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

func wireRun(r raftfsm.Run) client.Run {
	return client.Run{RunID: r.RunID, ExperimentID: r.ExperimentID, Bucket: r.Bucket, Root: r.Root, Kind: r.Kind,
		Files: r.Files, Bytes: r.Bytes, First: time.Unix(0, r.First).UTC(), Last: time.Unix(0, r.Last).UTC()}
}

// runs serves GET runs, runs/{id} and runs/{id}/artifacts?path=.
func (a *API) runs(w http.ResponseWriter, r *http.Request, id, sub string) error {
	st := a.node.State()
	q := r.URL.Query()
	switch {
	case id == "":
		limit, _ := strconv.Atoi(q.Get("limit"))
		return writeRuns(w, identity(r))(st.Runs(raftfsm.RunFilter{ExperimentID: q.Get("experiment_id"), Bucket: q.Get("bucket"), Kind: q.Get("kind"), Limit: limit}))
	case sub == "":
		return writeRuns(w, identity(r))(st.Run(id))
	case sub == "artifacts":
		runs, err := st.Run(id)
		if err != nil {
			return err
		}
		if err := identity(r).Require(auth.Read, runs[0].Bucket); err != nil {
			return err
		}
		root := runs[0].Root
		prefix := root
		if p := strings.Trim(q.Get("path"), "/"); p != "" {
			prefix += p + "/"
		}
		out := []client.Artifact{}
		err = a.walkPrefix(runs[0].Bucket, prefix, func(o raftfsm.Object) {
			out = append(out, client.Artifact{Path: strings.TrimPrefix(o.Key, root), Size: o.Size, Digest: o.Digest})
		})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	return apierr.New(http.StatusNotFound, "NoSuchRoute", "no route runs/%s/%s", id, sub)
}

// writeRuns returns a function that answers with the runs id may see, or
// with the error.
func writeRuns(w http.ResponseWriter, id auth.Identity) func([]raftfsm.Run, error) error {
	return func(runs []raftfsm.Run, err error) error {
		if err != nil {
			return err
		}
		out := []client.Run{}
		for _, run := range runs {
			if id.InBucket(run.Bucket) {
				out = append(out, wireRun(run))
			}
		}
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

// walkPrefix calls fn for every object under prefix, page by page.
func (a *API) walkPrefix(bucket, prefix string, fn func(raftfsm.Object)) error {
	after := ""
	for {
		page, err := a.node.State().List(bucket, raftfsm.ListOptions{Prefix: prefix, StartAfter: after})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			fn(o)
		}
		if !page.Truncated {
			return nil
		}
		after = page.Next
	}
}

func wireModel(e raftfsm.ModelEntry) client.Model {
	m := client.Model{
		Bucket: e.Bucket, Key: e.Key, Dir: e.Dir, RunID: e.RunID, ExperimentID: e.ExperimentID,
		ModelUUID: e.Model.ModelUUID, ModelID: e.Model.ModelID, ArtifactPath: e.Model.ArtifactPath,
		MLflowVersion: e.Model.MLflowVersion, Created: time.UnixMilli(e.Created()).UTC(),
		Flavors: e.Model.Flavors, EnvFiles: e.Model.EnvFiles, Error: e.Model.Error,
	}
	if sig := e.Model.Signature; sig != nil {
		m.Signature = map[string]string{"inputs": sig.Inputs, "outputs": sig.Outputs, "params": sig.Params}
	}
	return m
}

// parseTimeParam accepts RFC 3339 or unix milliseconds.
func parseTimeParam(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, apierr.BadRequest("InvalidRequest", "time %q: want RFC 3339 or unix milliseconds", v)
	}
	return t.UnixMilli(), nil
}

func (a *API) models(w http.ResponseWriter, r *http.Request, id string) error {
	st := a.node.State()
	if id != "" {
		e, err := st.ModelByID(id)
		if err != nil {
			return err
		}
		if err := identity(r).Require(auth.Read, e.Bucket); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireModel(e))
		return nil
	}
	q := r.URL.Query()
	since, err1 := parseTimeParam(q.Get("since"))
	until, err2 := parseTimeParam(q.Get("until"))
	if err := errors.Join(err1, err2); err != nil {
		return err1
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	models, err := st.Models(raftfsm.ModelFilter{
		Bucket: q.Get("bucket"), RunID: q.Get("run_id"), Flavor: q.Get("flavor"), ID: q.Get("id"),
		CreatedAfter: since, CreatedBefore: until, IncludeErrors: q.Get("errors") == "true", Limit: limit,
	})
	if err != nil {
		return err
	}
	out := []client.Model{}
	for _, e := range models {
		if identity(r).InBucket(e.Bucket) {
			out = append(out, wireModel(e))
		}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// stats gathers the namespace counters, this node's chunk store, the
// largest runs and the most shared files.
func (a *API) stats(ctx context.Context, top int) (client.Stats, error) {
	st := a.node.State()
	ns, err := st.Stats()
	if err != nil {
		return client.Stats{}, err
	}
	local, err := a.node.Store().Stats(ctx)
	if err != nil {
		return client.Stats{}, err
	}
	out := client.Stats{
		Objects: ns.Objects, LogicalBytes: ns.LogicalBytes, UniqueBytes: ns.ChunkBytes, StoredBytes: local.StoredBytes,
		Files: ns.Files, Chunks: ns.Chunks, LocalChunks: local.Chunks, Uploads: ns.Uploads, Buckets: []client.Bucket{},
	}
	// The node's chunks beyond the ones referenced are garbage (when it
	// holds every referenced one; repair's count says when it does not).
	out.GarbageBytes = max(local.LogicalBytes-ns.ChunkBytes, 0)
	if ns.ChunkBytes > 0 {
		out.DedupRatio = float64(ns.LogicalBytes) / float64(ns.ChunkBytes)
	}
	if local.StoredBytes > 0 {
		out.CompressionRatio = float64(local.LogicalBytes) / float64(local.StoredBytes)
	}
	buckets, err := st.Buckets()
	if err != nil {
		return out, err
	}
	for _, b := range buckets {
		out.Buckets = append(out.Buckets, wireBucket(b))
	}
	runs, err := st.TopRuns(top)
	if err != nil {
		return out, err
	}
	for _, r := range runs {
		out.Runs = append(out.Runs, wireRun(r))
	}
	shared, err := st.TopShared(top)
	if err != nil {
		return out, err
	}
	for _, f := range shared {
		sf := client.SharedFile{Digest: f.Digest, Size: f.Size, Refs: f.Refs, Saved: (f.Refs - 1) * f.Size}
		uses, err := st.FileUses(f.Digest, 50)
		if err != nil {
			return out, err
		}
		seen := map[string]bool{}
		for _, u := range uses {
			sf.Keys = append(sf.Keys, u.Bucket+"/"+u.Key)
			if l, ok := raftfsm.ParseLayout(u.Key); ok && !seen[l.ID] {
				seen[l.ID] = true
				sf.Runs = append(sf.Runs, l.ID)
			}
		}
		out.Shared = append(out.Shared, sf)
	}
	return out, nil
}

func (a *API) statsRoute(w http.ResponseWriter, r *http.Request) error {
	top, _ := strconv.Atoi(r.URL.Query().Get("top"))
	if top <= 0 {
		top = 10
	}
	st, err := a.stats(r.Context(), top)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}

func wireRef(r raftfsm.Ref) client.Ref {
	return client.Ref{Name: r.Name, Target: r.Target, Version: r.Version, Time: time.Unix(0, r.Time).UTC()}
}

func (a *API) refs(w http.ResponseWriter, r *http.Request, rest string) error {
	name, err := url.PathUnescape(rest)
	if err != nil {
		return apierr.BadRequest("InvalidRequest", "bad escape in ref name")
	}
	st := a.node.State()
	switch {
	case name == "" && r.Method == http.MethodGet:
		refs, err := st.Refs(r.URL.Query().Get("prefix"))
		if err != nil {
			return err
		}
		out := []client.Ref{}
		for _, ref := range refs {
			out = append(out, wireRef(ref))
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	case name != "" && r.Method == http.MethodGet:
		ref, err := st.Ref(name)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireRef(ref))
	case name != "" && r.Method == http.MethodPut:
		var req client.RefRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		res, err := a.node.Propose(r.Context(), &raftfsm.PutRef{Name: name, Target: req.Target, IfVersion: req.IfVersion, Time: a.node.Now().UnixNano()})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireRef(*res.Ref))
	case name != "" && r.Method == http.MethodDelete:
		var ifVersion *uint64
		if v := r.URL.Query().Get("if_version"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return apierr.BadRequest("InvalidRequest", "if_version %q", v)
			}
			ifVersion = &n
		}
		if _, err := a.node.Propose(r.Context(), &raftfsm.DeleteRef{Name: name, IfVersion: ifVersion}); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, struct{}{})
	default:
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed here", r.Method)
	}
	return nil
}
