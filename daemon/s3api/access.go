package s3api

import (
	"errors"
	"net/http"

	"cairn/daemon/auth"
	"cairn/daemon/internal/sigv4"
)

// authenticate finds who sent the request: the access key that signed it,
// or, for a request that carries no signature at all, the anonymous role
// (none unless the operator opened reads or everything).
func (a *API) authenticate(q *s3Request) error {
	sig, err := a.verifier.Verify(q.r)
	if errors.Is(err, sigv4.ErrAnonymous) {
		q.id = a.cfg.Auth.Anonymous()
		if q.id.Role == auth.None {
			return err
		}
		q.auth = &sigv4.Auth{Payload: sigv4.PayloadUnsigned}
		return nil
	}
	if err != nil {
		return err
	}
	_, id, ok := a.cfg.Auth.Lookup(sig.AccessKey)
	if !ok {
		return sigv4.ErrInvalidAccessKeyID
	}
	q.auth, q.id = sig, id
	return nil
}

// authorize checks that the request's key may do what it asks on its
// bucket: every S3 request that changes something is a PUT, POST or
// DELETE. A listing of the buckets shows those the key may use; a copy
// also needs to read its source (copySource checks).
func authorize(q *s3Request) error {
	need := auth.Write
	switch q.r.Method {
	case http.MethodGet, http.MethodHead:
		need = auth.Read
	}
	if q.bucket == "" {
		return q.id.RequireRole(need)
	}
	return q.id.Require(need, q.bucket)
}

// operation names what a request does, for the latency metrics.
func operation(q *s3Request) string {
	switch {
	case q.bucket == "":
		return "service"
	case q.key == "" && q.r.Method == http.MethodGet && len(q.query) == 0,
		q.key == "" && q.r.Method == http.MethodGet && (q.has("list-type") || q.has("prefix") || q.has("versions") || q.has("uploads")):
		return "list"
	case q.key == "":
		return "bucket"
	case q.has("uploads") || q.has("uploadId") && q.r.Method != http.MethodPut:
		return "multipart"
	case q.has("uploadId"):
		return "part_put"
	case q.r.Header.Get("X-Amz-Copy-Source") != "":
		return "object_copy"
	}
	switch q.r.Method {
	case http.MethodGet, http.MethodHead:
		return "object_get"
	case http.MethodPut:
		return "object_put"
	case http.MethodDelete:
		return "object_delete"
	}
	return "object"
}
