package client

import (
	"errors"
	"fmt"
	"net/http"
)

// Errors a caller can test for with errors.Is. An *APIError from the
// server matches the sentinel its status and code stand for.
var (
	// ErrNotFound: no such key, bucket, chunk, run, model or ref.
	ErrNotFound = errors.New("client: not found")
	// ErrPreconditionFailed: an If-Match or If-None-Match condition did
	// not hold; nothing was changed.
	ErrPreconditionFailed = errors.New("client: precondition failed")
	// ErrConflict: the bucket exists or is not empty, or a ref's version
	// was not the one given; nothing was changed.
	ErrConflict = errors.New("client: conflict")
	// ErrUnknownOutcome: a call that is not safe to repeat was sent, and
	// whether it took effect is unknown (the connection dropped after the
	// request was sent, the server timed out, or it answered 503
	// OutcomeUnknown). The client never retries such a call by itself.
	ErrUnknownOutcome = errors.New("client: outcome unknown")
	// ErrUnavailable: no endpoint could take the call, after the retries.
	ErrUnavailable = errors.New("client: service unavailable")
	// ErrUnauthorized: the token (or the cluster secret) is missing or
	// wrong.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrDigestMismatch: bytes did not hash to the digest that names them:
	// a chunk received, a downloaded file, or a local file that changed
	// while it was being logged.
	ErrDigestMismatch = errors.New("client: digest mismatch")
	// ErrInvalidURI: a URI is not runs:/<run_id>/<path>,
	// models:/<model_id>[/<path>], s3://<bucket>/<key> or <bucket>/<key>.
	ErrInvalidURI = errors.New("client: invalid URI")
	// ErrInvalidRequest: the server refused the request as malformed.
	ErrInvalidRequest = errors.New("client: invalid request")
)

// APIError is an error answer of the native API: the HTTP status and the
// machine-readable code and message of its body. errors.Is matches it
// against the package's sentinels.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s (%d)", e.Code, e.Status)
	}
	return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
}

// Is reports whether the error stands for target, one of the sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		switch e.Code {
		case "NoSuchKey", "NoSuchBucket", "NoSuchChunk", "NoSuchUpload", "NotFound", "NoSuchRef":
			return true
		}
	case ErrPreconditionFailed:
		return e.Status == http.StatusPreconditionFailed || e.Code == "PreconditionFailed"
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnknownOutcome:
		return e.Code == "OutcomeUnknown" || e.Code == "RequestTimeout"
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable && e.Code != "OutcomeUnknown" && e.Code != "RequestTimeout"
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrDigestMismatch:
		return e.Code == "BadDigest"
	case ErrInvalidRequest:
		return e.Status == http.StatusBadRequest
	}
	return false
}
