package sigv4

import (
	"errors"
	"fmt"
)

// Sentinel errors. Verify and Body wrap exactly one of them, with context,
// so that the daemon can map a failure to its S3 error code with errors.Is.
// The comment of each names that code.
var (
	// ErrSignatureDoesNotMatch means the signature the client sent is not
	// the one its secret key gives for the request (SignatureDoesNotMatch).
	// It is also returned for a chunk or trailer signature that does not
	// chain from the seed signature. SignatureError carries the details.
	ErrSignatureDoesNotMatch = errors.New("sigv4: signature does not match")

	// ErrInvalidAccessKeyID means no secret key is configured for the
	// access key in the credential (InvalidAccessKeyId).
	ErrInvalidAccessKeyID = errors.New("sigv4: invalid access key id")

	// ErrAccessDenied means the request may not proceed although it is not
	// malformed: it carries no signature, its presigned URL has expired or
	// is not valid yet, or it carries x-amz-* headers that were not signed
	// (AccessDenied).
	ErrAccessDenied = errors.New("sigv4: access denied")

	// ErrAnonymous means the request carries no signature at all. It wraps
	// ErrAccessDenied, so that a daemon without anonymous access needs to
	// test only for the latter.
	ErrAnonymous = fmt.Errorf("%w: anonymous request", ErrAccessDenied)

	// ErrRequestTimeTooSkewed means the signing time of a request signed
	// in the Authorization header is further from the server's clock than
	// the allowed skew (RequestTimeTooSkewed).
	ErrRequestTimeTooSkewed = errors.New("sigv4: request time too skewed")

	// ErrAuthorizationHeaderMalformed means the Authorization header does
	// not parse, or its credential scope is wrong: bad date, a region other
	// than the configured one, a service other than s3
	// (AuthorizationHeaderMalformed).
	ErrAuthorizationHeaderMalformed = errors.New("sigv4: authorization header malformed")

	// ErrAuthorizationQueryParametersError means the X-Amz-* query
	// parameters of a presigned URL are missing, repeated or malformed
	// (AuthorizationQueryParametersError).
	ErrAuthorizationQueryParametersError = errors.New("sigv4: authorization query parameters malformed")

	// ErrContentSHA256Mismatch means the payload does not hash to the
	// x-amz-content-sha256 the client declared (XAmzContentSHA256Mismatch).
	ErrContentSHA256Mismatch = errors.New("sigv4: x-amz-content-sha256 does not match payload")

	// ErrBadDigest means the payload does not match its Content-MD5 or its
	// x-amz-checksum-* header or trailer (BadDigest).
	ErrBadDigest = errors.New("sigv4: bad digest")

	// ErrInvalidDigest means the Content-MD5 header is not the base64 of
	// 16 bytes (InvalidDigest).
	ErrInvalidDigest = errors.New("sigv4: invalid Content-MD5")

	// ErrIncompleteBody means the body ended before the length its headers
	// declared (IncompleteBody).
	ErrIncompleteBody = errors.New("sigv4: incomplete body")

	// ErrInvalidRequest means the request is malformed in a way that has no
	// more specific code: broken aws-chunked framing, a body longer than
	// declared, a bad x-amz-content-sha256, x-amz-trailer or checksum
	// header, or two authentication mechanisms at once (InvalidRequest).
	ErrInvalidRequest = errors.New("sigv4: invalid request")

	// ErrNotImplemented means the request uses a signing or payload mode
	// this package does not support, such as SigV4A or SigV2
	// (NotImplemented).
	ErrNotImplemented = errors.New("sigv4: unsupported by this server")
)

// SignatureError reports a signature that does not match. It matches
// ErrSignatureDoesNotMatch with errors.Is. S3 returns the canonical request
// and the string to sign in its SignatureDoesNotMatch response so that a
// client author can find what differs; neither contains a secret.
type SignatureError struct {
	// What names the signature: "request", "chunk 3", "trailer".
	What string
	// CanonicalRequest is empty for chunk and trailer signatures.
	CanonicalRequest string
	StringToSign     string
}

func (e *SignatureError) Error() string {
	return "sigv4: signature does not match for " + e.What
}

// Is makes errors.Is(err, ErrSignatureDoesNotMatch) true.
func (e *SignatureError) Is(target error) bool { return target == ErrSignatureDoesNotMatch }
