package sigv4

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// PayloadKind is what a request's x-amz-content-sha256 declares about its
// body.
type PayloadKind uint8

// The payload kinds, one per accepted value of x-amz-content-sha256.
const (
	// PayloadSHA256: the header holds the hex SHA-256 of the body, which is
	// sent as is.
	PayloadSHA256 PayloadKind = iota + 1
	// PayloadUnsigned: UNSIGNED-PAYLOAD, the body is sent as is and only
	// its checksums, if any, protect it.
	PayloadUnsigned
	// PayloadStreamingSigned: STREAMING-AWS4-HMAC-SHA256-PAYLOAD, an
	// aws-chunked body whose every chunk is signed.
	PayloadStreamingSigned
	// PayloadStreamingSignedTrailer: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER,
	// signed chunks followed by signed trailing headers.
	PayloadStreamingSignedTrailer
	// PayloadStreamingUnsignedTrailer: STREAMING-UNSIGNED-PAYLOAD-TRAILER,
	// unsigned chunks followed by trailing headers (a checksum).
	PayloadStreamingUnsignedTrailer
)

// The wire values of x-amz-content-sha256 other than a hex digest, and
// the digest of an empty payload.
const (
	unsignedPayload               = "UNSIGNED-PAYLOAD"
	streamingSignedPayload        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedPayloadTrail = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingECDSAPrefix          = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	emptySHA256                   = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// The request headers that describe the payload, in lowercase.
const (
	headerContentSHA256        = "x-amz-content-sha256"
	headerDecodedContentLength = "x-amz-decoded-content-length"
	headerTrailer              = "x-amz-trailer"
	headerSDKChecksumAlgorithm = "x-amz-sdk-checksum-algorithm"
	checksumHeaderPrefix       = "x-amz-checksum-"
	awsChunkedEncoding         = "aws-chunked"
)

// String returns the wire value of x-amz-content-sha256 for k; for
// PayloadSHA256 that is a placeholder, the digest being in Auth.
func (k PayloadKind) String() string {
	switch k {
	case PayloadSHA256:
		return "SHA256"
	case PayloadUnsigned:
		return unsignedPayload
	case PayloadStreamingSigned:
		return streamingSignedPayload
	case PayloadStreamingSignedTrailer:
		return streamingSignedPayloadTrailer
	case PayloadStreamingUnsignedTrailer:
		return streamingUnsignedPayloadTrail
	}
	return fmt.Sprintf("PayloadKind(%d)", uint8(k))
}

// Chunked reports whether a body of kind k is aws-chunked.
func (k PayloadKind) Chunked() bool {
	return k == PayloadStreamingSigned || k == PayloadStreamingSignedTrailer || k == PayloadStreamingUnsignedTrailer
}

// signedChunks reports whether every chunk of a body of kind k is signed.
func (k PayloadKind) signedChunks() bool {
	return k == PayloadStreamingSigned || k == PayloadStreamingSignedTrailer
}

// hasTrailer reports whether a body of kind k may end with trailing headers.
func (k PayloadKind) hasTrailer() bool {
	return k == PayloadStreamingSignedTrailer || k == PayloadStreamingUnsignedTrailer
}

// parsePayload interprets a value of x-amz-content-sha256. For a digest it
// also returns the digest in lowercase hex.
func parsePayload(v string) (PayloadKind, string, error) {
	switch v {
	case unsignedPayload:
		return PayloadUnsigned, "", nil
	case streamingSignedPayload:
		return PayloadStreamingSigned, "", nil
	case streamingSignedPayloadTrailer:
		return PayloadStreamingSignedTrailer, "", nil
	case streamingUnsignedPayloadTrail:
		return PayloadStreamingUnsignedTrailer, "", nil
	}
	if strings.HasPrefix(v, streamingECDSAPrefix) {
		return 0, "", fmt.Errorf("accept payload mode %s: %w", v, ErrNotImplemented)
	}
	if len(v) == 64 {
		if _, err := hex.DecodeString(v); err == nil {
			return PayloadSHA256, strings.ToLower(v), nil
		}
	}
	return 0, "", fmt.Errorf("parse %s %q: %w", headerContentSHA256, v, ErrInvalidRequest)
}
