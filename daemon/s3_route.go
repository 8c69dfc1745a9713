package daemon

// The S3 API answers, on the HTTP listener every surface shares:
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

import (
	"net/http"
)

// bucketProbe reports whether name is a bucket configuration cairn does
// not keep, and the code S3 answers a GET of it with for a bucket that has
// none configured; code "" means an empty document, which tools expect. A
// DELETE of one succeeds: there is nothing to delete.
func bucketProbe(name string) (code string, ok bool) {
	switch name {
	case "policy", "policyStatus":
		return "NoSuchBucketPolicy", true
	case "lifecycle":
		return "NoSuchLifecycleConfiguration", true
	case "cors":
		return "NoSuchCORSConfiguration", true
	case "tagging":
		return "NoSuchTagSet", true
	case "encryption":
		return "ServerSideEncryptionConfigurationNotFoundError", true
	case "object-lock":
		return "ObjectLockConfigurationNotFoundError", true
	case "website":
		return "NoSuchWebsiteConfiguration", true
	case "replication":
		return "ReplicationConfigurationNotFoundError", true
	case "publicAccessBlock":
		return "NoSuchPublicAccessBlockConfiguration", true
	case "ownershipControls":
		return "OwnershipControlsNotFoundError", true
	case "logging", "notification", "accelerate", "requestPayment",
		"analytics", "metrics", "inventory", "intelligent-tiering":
		return "", true
	}
	return "", false
}

// objectUnsupported reports whether name is an object subresource cairn
// does not implement: a request naming one gets NotImplemented rather
// than being mistaken for a plain read or write of the object.
func objectUnsupported(name string) bool {
	switch name {
	case "retention", "legal-hold", "attributes", "torrent", "restore", "select", "renameObject":
		return true
	}
	return false
}

// s3Route picks the handler of a request.
func s3Route(q *s3Request) s3Handler {
	switch {
	case q.bucket == "":
		if q.r.Method == http.MethodGet {
			return (*Server).s3ListBuckets
		}
		return methodNotAllowed
	case q.key == "":
		return bucketRoute(q)
	}
	return objectRoute(q)
}

// bucketRoute picks the handler of a request on a bucket.
func bucketRoute(q *s3Request) s3Handler {
	for name := range q.query {
		if _, ok := bucketProbe(name); ok {
			switch q.r.Method {
			case http.MethodGet:
				return probeHandler(name)
			case http.MethodDelete:
				return (*Server).s3DeleteBucketConfig
			}
			return notImplemented("setting the bucket's " + name)
		}
	}
	switch q.r.Method {
	case http.MethodHead:
		return (*Server).s3HeadBucket
	case http.MethodPut:
		switch {
		case q.has("versioning"):
			return (*Server).s3PutBucketVersioning
		case q.has("acl"):
			return (*Server).s3PutACL
		}
		return (*Server).s3CreateBucket
	case http.MethodDelete:
		return (*Server).s3DeleteBucket
	case http.MethodPost:
		if q.has("delete") {
			return (*Server).s3DeleteObjects
		}
		return notImplemented("POST on a bucket (browser form uploads)")
	case http.MethodGet:
		switch {
		case q.has("location"):
			return (*Server).s3GetBucketLocation
		case q.has("versioning"):
			return (*Server).s3GetBucketVersioning
		case q.has("acl"):
			return (*Server).s3GetACL
		case q.has("versions"):
			return (*Server).s3ListObjectVersions
		case q.has("uploads"):
			return (*Server).s3ListUploads
		case q.query.Get("list-type") == "2":
			return (*Server).s3ListObjectsV2
		}
		return (*Server).s3ListObjectsV1
	}
	return methodNotAllowed
}

// objectRoute picks the handler of a request on an object.
func objectRoute(q *s3Request) s3Handler {
	for name := range q.query {
		if objectUnsupported(name) {
			return notImplemented("the object subresource " + name)
		}
	}
	copySource := q.r.Header.Get("X-Amz-Copy-Source") != ""
	switch q.r.Method {
	case http.MethodGet:
		switch {
		case q.has("uploadId"):
			return (*Server).s3ListParts
		case q.has("acl"):
			return (*Server).s3GetACL
		case q.has("tagging"):
			return (*Server).s3GetObjectTagging
		}
		return (*Server).s3GetObject
	case http.MethodHead:
		return (*Server).s3GetObject
	case http.MethodPut:
		switch {
		case q.has("uploadId") && copySource:
			return (*Server).s3UploadPartCopy
		case q.has("uploadId"):
			return (*Server).s3UploadPart
		case q.has("partNumber"):
			return badRequestHandler("InvalidRequest", "partNumber without uploadId")
		case q.has("acl"):
			return (*Server).s3PutACL
		case q.has("tagging"):
			return notImplemented("object tagging")
		case copySource:
			return (*Server).s3CopyObject
		}
		return (*Server).s3PutObject
	case http.MethodPost:
		switch {
		case q.has("uploads"):
			return (*Server).s3CreateUpload
		case q.has("uploadId"):
			return (*Server).s3CompleteUpload
		}
		return notImplemented("this POST on an object")
	case http.MethodDelete:
		switch {
		case q.has("uploadId"):
			return (*Server).s3AbortUpload
		case q.has("tagging"):
			return (*Server).s3DeleteObjectTagging
		}
		return (*Server).s3DeleteObject
	}
	return methodNotAllowed
}

// methodNotAllowed refuses a method the resource does not take.
func methodNotAllowed(s *Server, w http.ResponseWriter, q *s3Request) error {
	return requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on %s", q.r.Method, q.resource())
}

// notImplemented returns a handler refusing what cairn does not do.
func notImplemented(what string) s3Handler {
	return func(*Server, http.ResponseWriter, *s3Request) error {
		return requestErr(http.StatusNotImplemented, "NotImplemented", "cairn does not implement %s", what)
	}
}

// badRequestHandler returns a handler refusing a malformed request.
func badRequestHandler(code, msg string) s3Handler {
	return func(*Server, http.ResponseWriter, *s3Request) error {
		return badRequest(code, "%s", msg)
	}
}
