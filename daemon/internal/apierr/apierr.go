package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cairn/cas"
	"cairn/daemon/internal/sigv4"
	"cairn/raftfsm"
)

// Error is an error with the HTTP status and the code it is answered
// with. The codes are S3's names, which the native API uses too.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// New returns a request error.
func New(status int, code, format string, args ...any) error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 request error.
func BadRequest(code, format string, args ...any) error {
	return New(http.StatusBadRequest, code, format, args...)
}

// Sentinel returns an *Error for a package-level error value: wrap it with
// %w to add context, and errors.Is finds it.
func Sentinel(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// Classify returns how err is answered: its status, its code, and the
// message (the whole error text, context included).
func Classify(err error) Error {
	var e *Error
	if errors.As(err, &e) {
		return Error{e.Status, e.Code, err.Error()}
	}
	for _, r := range rules {
		if errors.Is(err, r.target) {
			return Error{r.status, r.code, err.Error()}
		}
	}
	return Error{http.StatusInternalServerError, "InternalError", err.Error()}
}

type rule struct {
	target error
	status int
	code   string
}

// rules map the sentinels of the layers that know nothing of HTTP.
var rules = []rule{
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
	{raftfsm.ErrInvalidCommand, 400, "InvalidRequest"},
	{cas.ErrDigestMismatch, 400, "BadDigest"},
	{cas.ErrTooLarge, 400, "EntityTooLarge"},
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
	{raftfsm.ErrNoLeader, 503, "ServiceUnavailable"},
	{raftfsm.ErrUnknownOutcome, 503, "OutcomeUnknown"},
	{raftfsm.ErrFailed, 503, "ServiceUnavailable"},
	{cas.ErrFailed, 503, "ServiceUnavailable"},
	{cas.ErrClosed, 503, "ServiceUnavailable"},
	{raftfsm.ErrClosed, 503, "ServiceUnavailable"},
	{cas.ErrNoSpace, http.StatusInsufficientStorage, "InsufficientStorage"},
	{cas.ErrCorrupt, 500, "InternalError"},
	{context.DeadlineExceeded, 503, "RequestTimeout"},
	{context.Canceled, 499, "RequestCanceled"},
}
