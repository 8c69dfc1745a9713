package s3api

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"

	"cairn/daemon/internal/apierr"
	"cairn/raftfsm"
)

// maxCreateBucketBody bounds a CreateBucketConfiguration document.
const maxCreateBucketBody = 64 << 10

// consistent makes the reads that follow see every committed write when
// the node is configured for consistent reads.
func (a *API) consistent(ctx context.Context) error {
	if !a.cfg.ConsistentReads {
		return nil
	}
	return a.node.ReadBarrier(ctx)
}

// bucket returns a bucket, NoSuchBucket when it does not exist.
func (a *API) bucket(ctx context.Context, name string) (raftfsm.Bucket, error) {
	if err := a.consistent(ctx); err != nil {
		return raftfsm.Bucket{}, err
	}
	return a.node.State().Bucket(name)
}

// region is the region cairn reports its buckets in.
func (a *API) region() string {
	if a.cfg.Region != "" {
		return a.cfg.Region
	}
	return DefaultRegion
}

// listBuckets lists every bucket: one tenant owns them all.
func (a *API) listBuckets(w http.ResponseWriter, q *s3Request) error {
	if err := a.consistent(q.r.Context()); err != nil {
		return err
	}
	bs, err := a.node.State().Buckets()
	if err != nil {
		return err
	}
	out := listAllMyBucketsResult{Owner: owner(), Buckets: []s3Bucket{}}
	for _, b := range bs {
		if q.id.InBucket(b.Name) {
			out.Buckets = append(out.Buckets, s3Bucket{Name: b.Name, CreationDate: s3Time(b.Created)})
		}
	}
	writeXML(w, http.StatusOK, out)
	return nil
}

// createBucket creates a bucket. Creating one that exists answers
// BucketAlreadyOwnedByYou, as S3 outside us-east-1 and MinIO do: every
// key owns every bucket.
func (a *API) createBucket(w http.ResponseWriter, q *s3Request) error {
	body, err := s3Body(q, maxCreateBucketBody)
	if err != nil {
		return err
	}
	loc, err := parseCreateBucketXML(body)
	if err != nil {
		return err
	}
	if !raftfsm.ValidBucketName(q.bucket) {
		return apierr.BadRequest("InvalidBucketName", "the specified bucket %q is not valid", q.bucket)
	}
	if loc != "" && a.cfg.Region != "" && loc != a.cfg.Region {
		return apierr.BadRequest("InvalidLocationConstraint", "the location constraint %q is not this server's region %s", loc, a.cfg.Region)
	}
	if err := checkACL(q.r.Header, nil); err != nil {
		return err
	}
	if q.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled") == "true" {
		return apierr.New(http.StatusNotImplemented, "NotImplemented", "cairn does not implement object lock")
	}
	if _, err := a.node.Propose(q.r.Context(), &raftfsm.CreateBucket{Bucket: q.bucket, Time: a.node.Now().UnixNano()}); err != nil {
		return err
	}
	w.Header().Set("Location", "/"+q.bucket)
	writeEmpty(w, http.StatusOK)
	return nil
}

// headBucket answers 200 with the region when the bucket exists.
func (a *API) headBucket(w http.ResponseWriter, q *s3Request) error {
	if _, err := a.bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	w.Header().Set("X-Amz-Bucket-Region", a.region())
	writeEmpty(w, http.StatusOK)
	return nil
}

// deleteBucket deletes a bucket that holds no object; its uploads in
// progress are aborted, as S3 does.
func (a *API) deleteBucket(w http.ResponseWriter, q *s3Request) error {
	if _, err := a.node.DeleteBucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// getBucketLocation answers the server's region.
func (a *API) getBucketLocation(w http.ResponseWriter, q *s3Request) error {
	if _, err := a.bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	loc := a.region()
	if loc == DefaultRegion {
		loc = "" // S3 writes us-east-1 as no constraint
	}
	writeXML(w, http.StatusOK, locationConstraint{Location: loc})
	return nil
}

// getBucketVersioning answers that versioning was never enabled: an
// empty configuration.
func (a *API) getBucketVersioning(w http.ResponseWriter, q *s3Request) error {
	if _, err := a.bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, versioningConfiguration{})
	return nil
}

// putBucketVersioning accepts suspending versioning, which changes
// nothing on an unversioned bucket, refuses to enable it, and refuses
// any other status as S3 does, as a malformed document.
func (a *API) putBucketVersioning(w http.ResponseWriter, q *s3Request) error {
	body, err := s3Body(q, maxCreateBucketBody)
	if err != nil {
		return err
	}
	var v versioningConfiguration
	if err := decodeXML(body, &v); err != nil {
		return err
	}
	if _, err := a.bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	switch v.Status {
	case "", "Suspended": // no change to an unversioned bucket
	case "Enabled":
		return apierr.New(http.StatusNotImplemented, "NotImplemented", "cairn does not implement versioning")
	default:
		return apierr.BadRequest("MalformedXML", "the versioning Status is Enabled or Suspended, not %q", v.Status)
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

// probeHandler answers a GET of a bucket configuration cairn does not
// keep, as S3 does for a bucket without one.
func probeHandler(name string) s3Handler {
	return func(a *API, w http.ResponseWriter, q *s3Request) error {
		if _, err := a.bucket(q.r.Context(), q.bucket); err != nil {
			return err
		}
		code, _ := bucketProbe(name)
		if code != "" {
			err := apierr.New(http.StatusNotFound, code, "the bucket has no %s configuration", name)
			return apierr.With(err, apierr.Elem{Name: "BucketName", Value: q.bucket})
		}
		switch name {
		case "analytics", "metrics", "inventory", "intelligent-tiering":
			if q.has("id") {
				err := apierr.New(http.StatusNotFound, "NoSuchConfiguration", "the specified configuration does not exist")
				return apierr.With(err, apierr.Elem{Name: "BucketName", Value: q.bucket})
			}
			writeXML(w, http.StatusOK, configurationList(name))
		case "logging":
			writeXML(w, http.StatusOK, emptyDoc("BucketLoggingStatus"))
		case "notification":
			writeXML(w, http.StatusOK, emptyDoc("NotificationConfiguration"))
		case "accelerate":
			writeXML(w, http.StatusOK, emptyDoc("AccelerateConfiguration"))
		case "requestPayment":
			writeXML(w, http.StatusOK, requestPaymentConfiguration{Payer: "BucketOwner"})
		default:
			return apierr.New(http.StatusNotImplemented, "NotImplemented", "cairn does not implement bucket %s configurations", name)
		}
		return nil
	}
}

// deleteBucketConfig deletes a configuration cairn does not keep:
// there is nothing to delete.
func (a *API) deleteBucketConfig(w http.ResponseWriter, q *s3Request) error {
	if _, err := a.bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// getACL answers the one ACL cairn has: the owner has full control.
func (a *API) getACL(w http.ResponseWriter, q *s3Request) error {
	if err := a.exists(q); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, ownerFullControl())
	return nil
}

// putACL accepts a well-formed ACL and keeps none: cairn has no
// anonymous access and one owner, so the only effective ACL is the
// owner's full control. What S3 would refuse, it refuses.
func (a *API) putACL(w http.ResponseWriter, q *s3Request) error {
	body, err := s3Body(q, maxCreateBucketBody)
	if err != nil {
		return err
	}
	if err := checkACL(q.r.Header, body); err != nil {
		return err
	}
	if err := a.exists(q); err != nil {
		return err
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

// cannedACLs are the canned ACLs S3 knows, for buckets and objects.
var cannedACLs = []string{"private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
	"bucket-owner-read", "bucket-owner-full-control", "log-delivery-write"}

// checkACL refuses an ACL S3 would refuse: an unknown canned ACL
// (InvalidArgument), a canned ACL with grants (InvalidRequest), or an
// AccessControlPolicy document that does not parse (MalformedACLError).
func checkACL(h http.Header, body []byte) error {
	canned := h.Get("X-Amz-Acl")
	if canned != "" && !slices.Contains(cannedACLs, canned) {
		return apierr.InvalidArgument("x-amz-acl", canned, "the canned ACL %q is not one S3 knows", canned)
	}
	grants := len(bytes.TrimSpace(body)) > 0
	for name := range h {
		grants = grants || strings.HasPrefix(strings.ToLower(name), "x-amz-grant-")
	}
	if canned != "" && grants {
		return apierr.BadRequest("InvalidRequest", "specifying both canned ACLs and header grants is not allowed")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var acl accessControlPolicy
		if err := decodeXML(body, &acl); err != nil {
			return apierr.BadRequest("MalformedACLError", "the XML you provided was not well-formed or did not validate against our published schema")
		}
	}
	return nil
}

// getObjectTagging answers an empty tag set: cairn keeps no tags.
func (a *API) getObjectTagging(w http.ResponseWriter, q *s3Request) error {
	if err := a.exists(q); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, tagging{})
	return nil
}

// deleteObjectTagging deletes tags cairn does not keep: nothing to do.
func (a *API) deleteObjectTagging(w http.ResponseWriter, q *s3Request) error {
	if err := a.exists(q); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// exists checks that the bucket, or the object when the request names
// a key, exists.
func (a *API) exists(q *s3Request) error {
	if q.key == "" {
		_, err := a.bucket(q.r.Context(), q.bucket)
		return err
	}
	if err := checkVersionID(q.query.Get("versionId")); err != nil {
		return err
	}
	_, _, err := a.node.Lookup(q.r.Context(), q.bucket, q.key, a.cfg.ConsistentReads)
	return err
}
