package s3api

import (
	"net/http"

	"cairn/daemon/internal/apierr"
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
			return (*API).listBuckets
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
				return (*API).deleteBucketConfig
			}
			return notImplemented("setting the bucket's " + name)
		}
	}
	switch q.r.Method {
	case http.MethodHead:
		return (*API).headBucket
	case http.MethodPut:
		switch {
		case q.has("versioning"):
			return (*API).putBucketVersioning
		case q.has("acl"):
			return (*API).putACL
		}
		return (*API).createBucket
	case http.MethodDelete:
		return (*API).deleteBucket
	case http.MethodPost:
		if q.has("delete") {
			return (*API).deleteObjects
		}
		return notImplemented("POST on a bucket (browser form uploads)")
	case http.MethodGet:
		switch {
		case q.has("location"):
			return (*API).getBucketLocation
		case q.has("versioning"):
			return (*API).getBucketVersioning
		case q.has("acl"):
			return (*API).getACL
		case q.has("versions"):
			return (*API).listObjectVersions
		case q.has("uploads"):
			return (*API).listUploads
		case q.query.Get("list-type") == "2":
			return (*API).listObjectsV2
		}
		return (*API).listObjectsV1
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
			return (*API).listParts
		case q.has("acl"):
			return (*API).getACL
		case q.has("tagging"):
			return (*API).getObjectTagging
		}
		return (*API).getObject
	case http.MethodHead:
		return (*API).getObject
	case http.MethodPut:
		switch {
		case q.has("uploadId") && copySource:
			return (*API).uploadPartCopy
		case q.has("uploadId"):
			return (*API).uploadPart
		case q.has("partNumber"):
			return badRequestHandler("InvalidRequest", "partNumber without uploadId")
		case q.has("acl"):
			return (*API).putACL
		case q.has("tagging"):
			return notImplemented("object tagging")
		case copySource:
			return (*API).copyObject
		}
		return (*API).putObject
	case http.MethodPost:
		switch {
		case q.has("uploads"):
			return (*API).createUpload
		case q.has("uploadId"):
			return (*API).completeUpload
		}
		return notImplemented("this POST on an object")
	case http.MethodDelete:
		switch {
		case q.has("uploadId"):
			return (*API).abortUpload
		case q.has("tagging"):
			return (*API).deleteObjectTagging
		}
		return (*API).deleteObject
	}
	return methodNotAllowed
}

// methodNotAllowed refuses a method the resource does not take.
func methodNotAllowed(_ *API, w http.ResponseWriter, q *s3Request) error {
	kind := "OBJECT"
	switch {
	case q.bucket == "":
		kind = "SERVICE"
	case q.key == "":
		kind = "BUCKET"
	}
	err := apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "the specified method is not allowed against this resource")
	return apierr.With(err, apierr.Elem{Name: "Method", Value: q.r.Method}, apierr.Elem{Name: "ResourceType", Value: kind})
}

// notImplemented returns a handler refusing what cairn does not do.
func notImplemented(what string) s3Handler {
	return func(*API, http.ResponseWriter, *s3Request) error {
		return apierr.New(http.StatusNotImplemented, "NotImplemented", "cairn does not implement %s", what)
	}
}

// badRequestHandler returns a handler refusing a malformed request.
func badRequestHandler(code, msg string) s3Handler {
	return func(*API, http.ResponseWriter, *s3Request) error {
		return apierr.BadRequest(code, "%s", msg)
	}
}
