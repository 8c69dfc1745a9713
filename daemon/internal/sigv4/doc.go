// Package sigv4 authenticates requests to cairn's S3-compatible API the way
// Amazon S3 does: it verifies AWS Signature Version 4 (AWS4-HMAC-SHA256)
// and decodes and verifies the request payload. It does no other I/O than
// reading the request body it is given.
//
// # Signature
//
// A client signs a canonical form of its request (method, URI, query,
// the headers it names in SignedHeaders, payload hash) with a key derived
// from its secret key and the credential scope date/region/s3/aws4_request.
// The signature travels either in the Authorization header or, for a
// presigned URL, in X-Amz-* query parameters. Verifier.Verify recomputes it
// and returns an Auth. The canonical URI is the path as AWS normalises it:
// each segment decoded and URI-encoded again, with no '.' or '//' folding
// and no double encoding, which is how S3 (unlike other services) signs.
//
// # Payload
//
// The x-amz-content-sha256 header declares the payload: the hex SHA-256 of
// the body, UNSIGNED-PAYLOAD, or one of three aws-chunked streaming modes
// (PayloadKind). A presigned URL's payload is UNSIGNED-PAYLOAD unless it
// signs an x-amz-content-sha256.
//
// # Chunked bodies
//
// An aws-chunked body is a sequence of chunks, "hex-size CRLF data CRLF",
// ended by a chunk of size zero and, in the trailer modes, by trailing
// headers carrying a checksum. In the signed modes every chunk header
// carries a chunk-signature chained from the request's signature, the seed
// signature, and the trailing headers carry x-amz-trailer-signature.
// Auth.Body removes the framing and verifies it as the caller reads; bytes
// are passed on before their chunk's signature is checked, so callers must
// commit nothing until Read returns io.EOF. x-amz-decoded-content-length is
// the length of the decoded payload.
//
// # Checksums
//
// A request may declare one checksum of its payload (CRC32, CRC32C,
// CRC64NVME, SHA1 or SHA256) in an x-amz-checksum-<alg> header or trailer,
// and an MD5 in Content-MD5. Body verifies them; NewChecksum computes them
// for other uses.
//
// # Errors
//
// Every error wraps one sentinel of errors.go, named after the S3 error
// code it stands for; the daemon maps sentinels to codes and HTTP statuses.
//
// It knows AWS Signature Version 4, its payload framings and S3's
// checksums; it must not know the stores or how errors are answered.
package sigv4
