package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cairn/cas"
	"cairn/daemon/internal/sigv4"
	"cairn/raftfsm"
)

// requestError is a request the daemon refuses before touching any
// state: a malformed body, a bad key, a missing parameter.
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(code, format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

func requestErr(status int, code, format string, args ...any) error {
	return &requestError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// Errors of the read and write paths.
var (
	errNoSuchKey     = errors.New("daemon: no such key")
	errTooLarge      = errors.New("daemon: body larger than the maximum object size")
	errShortBody     = errors.New("daemon: body shorter than its Content-Length")
	errQuorum        = errors.New("daemon: not enough nodes hold the chunks")
	errNoLeader      = errors.New("daemon: no leader")
	errShuttingDown  = errors.New("daemon: shutting down")
	errChunkNotFound = errors.New("daemon: chunk not found on any node")
	// errNoPeerRoute is a peer that does not know a route: an older
	// version, during a rolling upgrade.
	errNoPeerRoute = errors.New("daemon: the peer does not know this route")
)

// apiError is how an error shows on every surface: an HTTP status and a
// machine-readable code (S3's names, used by the native API too).
type apiError struct {
	Status  int
	Code    string
	Message string
}

// classify maps an error to its status and code. It is the one place that
// decides how errors look over HTTP.
func classify(err error) apiError {
	var re *requestError
	if errors.As(err, &re) {
		return apiError{re.status, re.code, re.msg}
	}
	type rule struct {
		target error
		status int
		code   string
	}
	for _, r := range []rule{
		{errNoSuchKey, 404, "NoSuchKey"},
		{raftfsm.ErrNotFound, 404, "NoSuchKey"},
		{raftfsm.ErrNoSuchBucket, 404, "NoSuchBucket"},
		{raftfsm.ErrNoSuchUpload, 404, "NoSuchUpload"},
		{raftfsm.ErrBucketExists, 409, "BucketAlreadyOwnedByYou"},
		{raftfsm.ErrBucketNotEmpty, 409, "BucketNotEmpty"},
		{raftfsm.ErrConflict, 409, "Conflict"},
		{raftfsm.ErrPreconditionFailed, 412, "PreconditionFailed"},
		{raftfsm.ErrInvalidPart, 400, "InvalidPart"},
		{raftfsm.ErrTooSmall, 400, "EntityTooSmall"},
		{raftfsm.ErrTooLarge, 400, "EntityTooLarge"},
		{errTooLarge, 400, "EntityTooLarge"},
		{raftfsm.ErrInvalidCommand, 400, "InvalidRequest"},
		{errShortBody, 400, "IncompleteBody"},
		{cas.ErrDigestMismatch, 400, "BadDigest"},
		{cas.ErrTooLarge, 400, "EntityTooLarge"},
		{errChunkNotFound, 404, "NoSuchChunk"},
		{cas.ErrNotFound, 404, "NoSuchChunk"},
		{sigv4.ErrSignatureDoesNotMatch, 403, "SignatureDoesNotMatch"},
		{sigv4.ErrInvalidAccessKeyID, 403, "InvalidAccessKeyId"},
		{sigv4.ErrAccessDenied, 403, "AccessDenied"},
		{sigv4.ErrRequestTimeTooSkewed, 403, "RequestTimeTooSkewed"},
		{sigv4.ErrAuthorizationHeaderMalformed, 400, "AuthorizationHeaderMalformed"},
		{sigv4.ErrAuthorizationQueryParametersError, 400, "AuthorizationQueryParametersError"},
		{sigv4.ErrContentSHA256Mismatch, 400, "XAmzContentSHA256Mismatch"},
		{sigv4.ErrBadDigest, 400, "BadDigest"},
		{sigv4.ErrInvalidDigest, 400, "InvalidDigest"},
		{sigv4.ErrIncompleteBody, 400, "IncompleteBody"},
		{sigv4.ErrInvalidRequest, 400, "InvalidRequest"},
		{sigv4.ErrNotImplemented, 501, "NotImplemented"},
		{raftfsm.ErrNotLeader, 503, "ServiceUnavailable"},
		{errNoLeader, 503, "ServiceUnavailable"},
		{errQuorum, 503, "ServiceUnavailable"},
		{errShuttingDown, 503, "ServiceUnavailable"},
		{raftfsm.ErrUnknownOutcome, 503, "OutcomeUnknown"},
		{raftfsm.ErrFailed, 503, "ServiceUnavailable"},
		{cas.ErrFailed, 503, "ServiceUnavailable"},
		{cas.ErrClosed, 503, "ServiceUnavailable"},
		{raftfsm.ErrClosed, 503, "ServiceUnavailable"},
		{cas.ErrNoSpace, http.StatusInsufficientStorage, "InsufficientStorage"},
		{cas.ErrCorrupt, 500, "InternalError"},
		{context.DeadlineExceeded, 503, "RequestTimeout"},
		{context.Canceled, 499, "RequestCanceled"},
	} {
		if errors.Is(err, r.target) {
			return apiError{r.status, r.code, err.Error()}
		}
	}
	return apiError{500, "InternalError", err.Error()}
}
