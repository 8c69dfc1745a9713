// Package s3client is a small client of the S3 API: the object calls a
// backup, an import or a cold tier needs (put, get, head, delete, list,
// create bucket), path-style, signed with AWS Signature Version 4. It
// needs only the standard library, so that programs that link it (the
// cairn binary among them) do not link an AWS SDK.
//
// # Signing
//
// Every request is signed with the Config's keys for the service "s3" in
// Config.Region (DefaultRegion when empty). A body the client can read
// twice (an io.ReadSeeker, or none) is signed by its SHA-256 in
// x-amz-content-sha256; any other body is sent as UNSIGNED-PAYLOAD, which
// S3 and the S3-compatible stores accept over both http and https.
//
// # Errors
//
// An error answer is an *Error holding the HTTP status and S3's code and
// message. errors.Is(err, ErrNotFound) holds for NoSuchKey, NoSuchBucket
// and any 404.
package s3client
