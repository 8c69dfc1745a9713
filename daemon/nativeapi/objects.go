package nativeapi

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"cairn/client"
	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/raftfsm"
)

func (a *API) object(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	switch r.Method {
	case http.MethodPut:
		meta := raftfsm.ObjectMeta{
			ContentType:        r.Header.Get("Content-Type"),
			ContentEncoding:    r.Header.Get("Content-Encoding"),
			ContentDisposition: r.Header.Get("Content-Disposition"),
			User:               httpx.UserMeta(r.Header, "X-Cairn-Meta-"),
		}
		res, err := a.node.Put(r.Context(), core.PutRequest{
			Bucket: bucket, Key: key, Body: r.Body, Length: r.ContentLength, Meta: meta,
			Conditions: raftfsm.Conditions{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")},
		})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, client.PutResult{Object: wireObject(res.Object), NewBytes: res.NewBytes, Chunks: res.Chunks})
		return nil
	case http.MethodGet, http.MethodHead:
		return a.getObject(w, r, bucket, key)
	case http.MethodDelete:
		res, err := a.node.Propose(r.Context(), &raftfsm.DeleteObject{Bucket: bucket, Key: key,
			Conditions: raftfsm.Conditions{IfMatch: r.Header.Get("If-Match")}})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, client.DeleteResult{Deleted: res.Deleted})
		return nil
	}
	return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed on an object", r.Method)
}

func (a *API) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	o, rec, err := a.node.Lookup(r.Context(), bucket, key, consistentRead(r, false))
	if err != nil {
		return err
	}
	h := w.Header()
	if st := httpx.Preconditions(r, o.Meta.ETag, time.Unix(0, o.MTime)); st != 0 {
		httpx.ObjectHeaders(h, o)
		w.WriteHeader(st)
		return nil
	}
	rng, partial, err := httpx.ParseRange(r.Header.Get("Range"), o.Size)
	if err != nil {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(o.Size, 10))
		return err
	}
	status := http.StatusOK
	if !partial {
		rng = httpx.Whole(o.Size)
	}
	var content io.ReadCloser
	if r.Method != http.MethodHead {
		if content, err = a.node.Content(r.Context(), rec.Recipe, rng.Start); err != nil {
			return err
		}
		defer content.Close()
	}
	httpx.ObjectHeaders(h, o)
	for k, v := range o.Meta.User {
		h.Set("X-Cairn-Meta-"+k, v)
	}
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", rng.ContentRange(o.Size))
	}
	httpx.Send(w, r, content, rng.Len(), status, a.log)
	return nil
}

func (a *API) stat(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if r.Method != http.MethodGet {
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET")
	}
	o, rec, err := a.lookup(r, bucket, key)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, client.Stat{Object: wireObject(o), Recipe: rec.Recipe})
	return nil
}

// omitETag reports whether a request asks, with ?etag=omit, for objects
// whose MD5 is not computed yet to be answered without their ETag rather
// than have it computed now: the Go client's downloads ask so, as they
// need only the recipe.
func omitETag(r *http.Request) bool { return r.URL.Query().Get("etag") == "omit" }

// lookup is the node's Lookup, but for ?etag=omit.
func (a *API) lookup(r *http.Request, bucket, key string) (raftfsm.Object, raftfsm.FileRecord, error) {
	consistent := consistentRead(r, false)
	if !omitETag(r) {
		return a.node.Lookup(r.Context(), bucket, key, consistent)
	}
	if consistent {
		if err := a.node.ReadBarrier(r.Context()); err != nil {
			return raftfsm.Object{}, raftfsm.FileRecord{}, err
		}
	}
	return a.node.State().Object(bucket, key)
}

func (a *API) list(w http.ResponseWriter, r *http.Request, bucket string) error {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if consistentRead(r, false) {
		if err := a.node.ReadBarrier(r.Context()); err != nil {
			return err
		}
	}
	res, err := a.node.State().List(bucket, raftfsm.ListOptions{
		Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), StartAfter: q.Get("start_after"), Limit: limit,
	})
	if err == nil && !omitETag(r) {
		err = a.node.ETags().OfAll(r.Context(), res.Objects)
	}
	if err != nil {
		return err
	}
	out := client.ListResult{Objects: []client.Object{}, CommonPrefixes: res.CommonPrefixes, Truncated: res.Truncated}
	if res.Truncated {
		out.Next = res.Next
	}
	for _, o := range res.Objects {
		out.Objects = append(out.Objects, wireObject(o))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// deletePrefix deletes every key under ?prefix= (required; "" is not
// accepted, to make deleting a whole bucket explicit with ?all=true).
func (a *API) deletePrefix(w http.ResponseWriter, r *http.Request, bucket string) error {
	q := r.URL.Query()
	prefix := q.Get("prefix")
	if prefix == "" && q.Get("all") != "true" {
		return apierr.BadRequest("InvalidRequest", "give ?prefix= or ?all=true")
	}
	n, err := a.node.DeletePrefix(r.Context(), bucket, prefix)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, client.DeleteResult{Deleted: n})
	return nil
}

func (a *API) buckets(w http.ResponseWriter, r *http.Request, bucket string) error {
	switch {
	case bucket == "" && r.Method == http.MethodGet:
		bs, err := a.node.State().Buckets()
		if err != nil {
			return err
		}
		out := []client.Bucket{}
		for _, b := range bs {
			if identity(r).InBucket(b.Name) {
				out = append(out, wireBucket(b))
			}
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	case bucket != "" && r.Method == http.MethodGet:
		b, err := a.node.State().Bucket(bucket)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireBucket(b))
	case bucket != "" && r.Method == http.MethodPut:
		res, err := a.node.Propose(r.Context(), &raftfsm.CreateBucket{Bucket: bucket, IfNotExists: r.URL.Query().Get("if_not_exists") == "true", Time: a.node.Now().UnixNano()})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireBucket(*res.Bucket))
	case bucket != "" && r.Method == http.MethodDelete:
		if _, err := a.node.DeleteBucket(r.Context(), bucket); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, struct{}{})
	default:
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed here", r.Method)
	}
	return nil
}

func wireObject(o raftfsm.Object) client.Object {
	return client.Object{
		Bucket: o.Bucket, Key: o.Key, Digest: o.Digest, Size: o.Size, ETag: o.Meta.ETag,
		ContentType: o.Meta.ContentType, ContentEncoding: o.Meta.ContentEncoding, ContentDisposition: o.Meta.ContentDisposition,
		Meta: o.Meta.User, MTime: time.Unix(0, o.MTime).UTC(), Version: o.Index,
	}
}

func wireBucket(b raftfsm.Bucket) client.Bucket {
	return client.Bucket{Name: b.Name, Created: time.Unix(0, b.Created).UTC(), Objects: b.Objects, Bytes: b.Bytes}
}
