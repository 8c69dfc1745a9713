package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cairn/client"
	"cairn/raftfsm"
)

// maxJSONBody bounds JSON request bodies; a commit of MaxChunksPerFile
// chunks takes about 7 MiB.
const maxJSONBody = 16 << 20

// serveAPI routes the native API. rest is the escaped path after /v1/.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	if s.cfg.Token != "" && !s.tokenOK(r) {
		writeJSONError(w, requestErr(http.StatusUnauthorized, "Unauthorized", "missing or wrong bearer token"))
		return
	}
	route, tail, _ := strings.Cut(rest, "/")
	bucket, key, err := splitBucketPath(tail)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	switch route {
	case "objects":
		switch {
		case bucket == "":
			writeJSONError(w, badRequest("InvalidRequest", "missing bucket"))
		case key == "" && r.Method == http.MethodGet:
			s.apiList(w, r, bucket)
		case key == "" && r.Method == http.MethodDelete:
			s.apiDeletePrefix(w, r, bucket)
		case key == "":
			writeJSONError(w, badRequest("InvalidRequest", "missing key"))
		default:
			s.apiObject(w, r, bucket, key)
		}
	case "stat":
		s.apiStat(w, r, bucket, key)
	case "commit":
		s.apiCommit(w, r, bucket, key)
	case "chunks":
		s.apiChunks(w, r, tail)
	case "buckets":
		s.apiBuckets(w, r, bucket)
	case "resolve":
		s.apiResolve(w, r)
	case "runs":
		s.apiRuns(w, r, bucket, key)
	case "models":
		s.apiModels(w, r, bucket)
	case "stats":
		s.apiStats(w, r)
	case "refs":
		s.apiRefs(w, r, tail)
	case "cluster":
		s.apiCluster(w, r, tail)
	case "admin":
		s.apiAdmin(w, r, tail)
	default:
		writeJSONError(w, requestErr(http.StatusNotFound, "NoSuchRoute", "no route /v1/%s", rest))
	}
}

func (s *Server) tokenOK(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// splitBucketPath splits "bucket/key..." (escaped) into its unescaped
// bucket and key.
func splitBucketPath(p string) (string, string, error) {
	b, k, _ := strings.Cut(p, "/")
	bucket, err := url.PathUnescape(b)
	if err != nil {
		return "", "", badRequest("InvalidRequest", "bad escape in bucket: %v", err)
	}
	key, err := url.PathUnescape(k)
	if err != nil {
		return "", "", badRequest("InvalidKey", "bad escape in key: %v", err)
	}
	return bucket, key, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"code":"InternalError","message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeJSONError(w http.ResponseWriter, err error) {
	e := classify(err)
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, client.Error{Code: e.Code, Message: e.Message})
}

// decodeJSON reads a bounded JSON body into v, refusing unknown fields
// and trailing data.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return requestErr(http.StatusRequestEntityTooLarge, "EntityTooLarge", "JSON body over %d bytes", maxJSONBody)
		}
		return badRequest("MalformedJSON", "malformed JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("MalformedJSON", "trailing data after the JSON body")
	}
	return nil
}

func consistentRead(r *http.Request, dflt bool) bool {
	v := r.URL.Query().Get("consistent")
	if v == "" {
		return dflt
	}
	b, _ := strconv.ParseBool(v)
	return b
}

func (s *Server) apiObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	switch r.Method {
	case http.MethodPut:
		meta := raftfsm.ObjectMeta{
			ContentType:        r.Header.Get("Content-Type"),
			ContentEncoding:    r.Header.Get("Content-Encoding"),
			ContentDisposition: r.Header.Get("Content-Disposition"),
			User:               userMeta(r.Header, "X-Cairn-Meta-"),
		}
		res, err := s.putObject(r.Context(), putRequest{
			Bucket: bucket, Key: key, Body: r.Body, Length: r.ContentLength, Meta: meta,
			Conditions: raftfsm.Conditions{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")},
		})
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, client.PutResult{Object: wireObject(res.Object), NewBytes: res.NewBytes, Chunks: res.Chunks})
	case http.MethodGet, http.MethodHead:
		o, rec, err := s.lookup(r.Context(), bucket, key, consistentRead(r, false))
		if err != nil {
			writeJSONError(w, err)
			return
		}
		objectHeaders(w.Header(), o)
		for k, v := range o.Meta.User {
			w.Header().Set("X-Cairn-Meta-"+k, v)
		}
		if st := preconditions(r, o.Meta.ETag, time.Unix(0, o.MTime)); st != 0 {
			w.WriteHeader(st)
			return
		}
		rng, partial, err := parseRange(r.Header.Get("Range"), o.Size)
		if err != nil {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(o.Size, 10))
			writeJSONError(w, err)
			return
		}
		status := http.StatusOK
		if partial {
			status = http.StatusPartialContent
			w.Header().Set("Content-Range", contentRange(rng, o.Size))
		} else {
			rng = byteRange{0, o.Size - 1}
		}
		s.sendContent(r.Context(), w, r, rec, rng, status)
	case http.MethodDelete:
		res, err := s.propose(r.Context(), &raftfsm.DeleteObject{Bucket: bucket, Key: key,
			Conditions: raftfsm.Conditions{IfMatch: r.Header.Get("If-Match")}})
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, client.DeleteResult{Deleted: res.Deleted})
	default:
		writeJSONError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed on an object", r.Method))
	}
}

// userMeta collects headers with the given prefix, keyed by the rest of
// the name in lower case.
func userMeta(h http.Header, prefix string) map[string]string {
	var m map[string]string
	for k, v := range h {
		if len(k) > len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			if m == nil {
				m = map[string]string{}
			}
			m[strings.ToLower(k[len(prefix):])] = strings.Join(v, ",")
		}
	}
	return m
}

func (s *Server) apiStat(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if r.Method != http.MethodGet {
		writeJSONError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET"))
		return
	}
	o, rec, err := s.lookup(r.Context(), bucket, key, consistentRead(r, false))
	if err != nil {
		writeJSONError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, client.Stat{Object: wireObject(o), Recipe: rec.Recipe})
}

func (s *Server) apiList(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if consistentRead(r, false) {
		if err := s.readBarrier(r.Context()); err != nil {
			writeJSONError(w, err)
			return
		}
	}
	res, err := s.node.State().List(bucket, raftfsm.ListOptions{
		Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), StartAfter: q.Get("start_after"), Limit: limit,
	})
	if err != nil {
		writeJSONError(w, err)
		return
	}
	out := client.ListResult{Objects: []client.Object{}, CommonPrefixes: res.CommonPrefixes, Truncated: res.Truncated}
	if res.Truncated {
		out.Next = res.Next
	}
	for _, o := range res.Objects {
		out.Objects = append(out.Objects, wireObject(o))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiDeletePrefix deletes every key under ?prefix= (required; "" is not
// accepted, to make deleting a whole bucket explicit with ?all=true).
func (s *Server) apiDeletePrefix(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	prefix := q.Get("prefix")
	if prefix == "" && q.Get("all") != "true" {
		writeJSONError(w, badRequest("InvalidRequest", "give ?prefix= or ?all=true"))
		return
	}
	n, err := s.deletePrefix(r, bucket, prefix)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, client.DeleteResult{Deleted: n})
}

func (s *Server) deletePrefix(r *http.Request, bucket, prefix string) (int, error) {
	total := 0
	for {
		res, err := s.propose(r.Context(), &raftfsm.DeletePrefix{Bucket: bucket, Prefix: prefix, Limit: raftfsm.MaxDeletePrefix})
		total += res.Deleted
		if err != nil || !res.More {
			return total, err
		}
	}
}

func (s *Server) apiBuckets(w http.ResponseWriter, r *http.Request, bucket string) {
	switch {
	case bucket == "" && r.Method == http.MethodGet:
		bs, err := s.node.State().Buckets()
		if err != nil {
			writeJSONError(w, err)
			return
		}
		out := []client.Bucket{}
		for _, b := range bs {
			out = append(out, wireBucket(b))
		}
		writeJSON(w, http.StatusOK, out)
	case bucket != "" && r.Method == http.MethodGet:
		b, err := s.node.State().Bucket(bucket)
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, wireBucket(b))
	case bucket != "" && r.Method == http.MethodPut:
		res, err := s.propose(r.Context(), &raftfsm.CreateBucket{Bucket: bucket, IfNotExists: r.URL.Query().Get("if_not_exists") == "true", Time: s.cfg.Now().UnixNano()})
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, wireBucket(*res.Bucket))
	case bucket != "" && r.Method == http.MethodDelete:
		if _, err := s.propose(r.Context(), &raftfsm.DeleteBucket{Bucket: bucket}); err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	default:
		writeJSONError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed here", r.Method))
	}
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
