// Package s3api is cairn's S3-compatible API, on the HTTP listener every
// surface shares. Requests are signed with AWS Signature Version 4
// (package sigv4) and errors answered in S3's XML form, by writeError
// alone.
//
// It answers:
//
//   - buckets: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//     GetBucketLocation, Get/PutBucketVersioning (never enabled), and the
//     configuration probes tools send (policy, lifecycle, cors, tagging,
//     encryption, object-lock, acl...), answered as for a bucket with
//     none;
//   - objects: PutObject (conditional with If-None-Match/If-Match),
//     GetObject and HeadObject (ranges, partNumber, conditions, response
//     overrides, checksums), DeleteObject, DeleteObjects, CopyObject
//     (metadata only, no bytes move), Get/PutObjectAcl, GetObjectTagging;
//   - listings: ListObjectsV2, ListObjects, ListObjectVersions;
//   - multipart: CreateMultipartUpload, UploadPart, UploadPartCopy,
//     CompleteMultipartUpload, AbortMultipartUpload, ListParts,
//     ListMultipartUploads.
//
// Versioning, tagging, object lock, server-side encryption, website,
// replication, SelectObjectContent and POST form uploads answer
// NotImplemented: cairn does not keep what they would configure, and a
// client told otherwise would believe it has it.
//
// It knows S3's wire format and the node's core; it must not know the
// other surfaces, Raft's wiring or the chunk store's internals.
package s3api
