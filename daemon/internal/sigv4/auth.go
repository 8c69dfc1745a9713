package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// The names of the signing algorithm and of the strings it signs, and the
// fixed parts of a credential scope.
const (
	signingAlgorithm          = "AWS4-HMAC-SHA256"
	streamingPayloadAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
	streamingTrailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
	scopeTerminator           = "aws4_request"
	serviceS3                 = "s3"
	amzDateLayout             = "20060102T150405Z"
	scopeDateLayout           = "20060102"
)

// Auth is an authenticated request: who signed it and what it declared
// about its body. Verify returns it; Body uses it to verify the body. An
// Auth is immutable and safe for concurrent use; each request has its own.
type Auth struct {
	// AccessKey is the access key whose secret signed the request.
	AccessKey string
	// Presigned is true for a presigned URL, false for an Authorization
	// header.
	Presigned bool
	// Payload is what x-amz-content-sha256 declared about the body.
	Payload PayloadKind
	// PayloadSHA256 is the declared lowercase hex SHA-256 of the body when
	// Payload is PayloadSHA256, and empty otherwise.
	PayloadSHA256 string
	// Region is the region of the credential scope.
	Region string
	// Time is the signing time the client claimed.
	Time time.Time

	signingKey []byte
	scope      string // date/region/s3/aws4_request
	amzDate    string // signing time as it appears in the strings to sign
	seed       string // the request signature, lowercase hex
}

// deriveSigningKey returns the SigV4 signing key of secret for a scope.
func deriveSigningKey(secret string, c credential) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), c.date)
	k = hmacSHA256(k, c.region)
	k = hmacSHA256(k, c.service)
	return hmacSHA256(k, scopeTerminator)
}

// hmacSHA256 returns HMAC-SHA256(key, data).
func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// sign returns the lowercase hex signature of a string to sign.
func (a *Auth) sign(sts string) string {
	return hex.EncodeToString(hmacSHA256(a.signingKey, sts))
}

// chunkStringToSign returns the string to sign of a chunk whose data
// hashes to sum, chained from the signature prev.
func (a *Auth) chunkStringToSign(prev string, sum []byte) string {
	return streamingPayloadAlgorithm + "\n" + a.amzDate + "\n" + a.scope + "\n" + prev + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(sum)
}

// trailerStringToSign returns the string to sign of the trailing headers
// whose canonical form hashes to sum, chained from the signature prev.
func (a *Auth) trailerStringToSign(prev string, sum []byte) string {
	return streamingTrailerAlgorithm + "\n" + a.amzDate + "\n" + a.scope + "\n" + prev + "\n" +
		hex.EncodeToString(sum)
}

// equalSignature compares two hex signatures in constant time.
func equalSignature(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}
