package daemon

import (
	"context"
	"net/http"

	"cairn/raftfsm"
)

// maxCreateBucketBody bounds a CreateBucketConfiguration document.
const maxCreateBucketBody = 64 << 10

// s3Consistent makes the reads that follow see every committed write when
// the node is configured for consistent reads.
func (s *Server) s3Consistent(ctx context.Context) error {
	if !s.cfg.ConsistentReads {
		return nil
	}
	return s.readBarrier(ctx)
}

// s3Bucket returns a bucket, NoSuchBucket when it does not exist.
func (s *Server) s3Bucket(ctx context.Context, name string) (raftfsm.Bucket, error) {
	if err := s.s3Consistent(ctx); err != nil {
		return raftfsm.Bucket{}, err
	}
	return s.node.State().Bucket(name)
}

// region is the region cairn reports its buckets in.
func (s *Server) region() string {
	if s.cfg.S3Region != "" {
		return s.cfg.S3Region
	}
	return DefaultRegion
}

// s3ListBuckets lists every bucket: one tenant owns them all.
func (s *Server) s3ListBuckets(w http.ResponseWriter, q *s3Request) error {
	if err := s.s3Consistent(q.r.Context()); err != nil {
		return err
	}
	bs, err := s.node.State().Buckets()
	if err != nil {
		return err
	}
	out := listAllMyBucketsResult{Owner: owner(), Buckets: []s3Bucket{}}
	for _, b := range bs {
		out.Buckets = append(out.Buckets, s3Bucket{Name: b.Name, CreationDate: s3Time(b.Created)})
	}
	writeXML(w, http.StatusOK, out)
	return nil
}

// s3CreateBucket creates a bucket. Creating one that exists answers
// BucketAlreadyOwnedByYou, as S3 outside us-east-1 and MinIO do: every
// key owns every bucket.
func (s *Server) s3CreateBucket(w http.ResponseWriter, q *s3Request) error {
	body, err := s3Body(q, maxCreateBucketBody)
	if err != nil {
		return err
	}
	loc, err := parseCreateBucketXML(body)
	if err != nil {
		return err
	}
	if !raftfsm.ValidBucketName(q.bucket) {
		return badRequest("InvalidBucketName", "the specified bucket %q is not valid", q.bucket)
	}
	if loc != "" && s.cfg.S3Region != "" && loc != s.cfg.S3Region {
		return badRequest("InvalidLocationConstraint", "the location constraint %q is not this server's region %s", loc, s.cfg.S3Region)
	}
	if q.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled") == "true" {
		return requestErr(http.StatusNotImplemented, "NotImplemented", "cairn does not implement object lock")
	}
	if _, err := s.propose(q.r.Context(), &raftfsm.CreateBucket{Bucket: q.bucket, Time: s.cfg.Now().UnixNano()}); err != nil {
		return err
	}
	w.Header().Set("Location", "/"+q.bucket)
	writeEmpty(w, http.StatusOK)
	return nil
}

// s3HeadBucket answers 200 with the region when the bucket exists.
func (s *Server) s3HeadBucket(w http.ResponseWriter, q *s3Request) error {
	if _, err := s.s3Bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	w.Header().Set("X-Amz-Bucket-Region", s.region())
	writeEmpty(w, http.StatusOK)
	return nil
}

// s3DeleteBucket deletes an empty bucket with no upload in progress.
func (s *Server) s3DeleteBucket(w http.ResponseWriter, q *s3Request) error {
	if _, err := s.propose(q.r.Context(), &raftfsm.DeleteBucket{Bucket: q.bucket}); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// s3GetBucketLocation answers the server's region.
func (s *Server) s3GetBucketLocation(w http.ResponseWriter, q *s3Request) error {
	if _, err := s.s3Bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	loc := s.region()
	if loc == DefaultRegion {
		loc = "" // S3 writes us-east-1 as no constraint
	}
	writeXML(w, http.StatusOK, locationConstraint{Location: loc})
	return nil
}

// s3GetBucketVersioning answers that versioning was never enabled: an
// empty configuration.
func (s *Server) s3GetBucketVersioning(w http.ResponseWriter, q *s3Request) error {
	if _, err := s.s3Bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, versioningConfiguration{})
	return nil
}

// s3PutBucketVersioning accepts suspending versioning, which changes
// nothing on an unversioned bucket, and refuses to enable it.
func (s *Server) s3PutBucketVersioning(w http.ResponseWriter, q *s3Request) error {
	body, err := s3Body(q, maxCreateBucketBody)
	if err != nil {
		return err
	}
	var v versioningConfiguration
	if err := decodeXML(body, &v); err != nil {
		return err
	}
	if _, err := s.s3Bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	if v.Status != "Suspended" {
		return requestErr(http.StatusNotImplemented, "NotImplemented", "cairn does not implement versioning")
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

// probeHandler answers a GET of a bucket configuration cairn does not
// keep, as S3 does for a bucket without one.
func probeHandler(name string) s3Handler {
	return func(s *Server, w http.ResponseWriter, q *s3Request) error {
		if _, err := s.s3Bucket(q.r.Context(), q.bucket); err != nil {
			return err
		}
		code, _ := bucketProbe(name)
		if code != "" {
			return requestErr(http.StatusNotFound, code, "the bucket has no %s configuration", name)
		}
		switch name {
		case "logging":
			writeXML(w, http.StatusOK, emptyDoc("BucketLoggingStatus"))
		case "notification":
			writeXML(w, http.StatusOK, emptyDoc("NotificationConfiguration"))
		case "accelerate":
			writeXML(w, http.StatusOK, emptyDoc("AccelerateConfiguration"))
		case "requestPayment":
			writeXML(w, http.StatusOK, requestPaymentConfiguration{Payer: "BucketOwner"})
		default:
			return requestErr(http.StatusNotImplemented, "NotImplemented", "cairn does not implement bucket %s configurations", name)
		}
		return nil
	}
}

// s3DeleteBucketConfig deletes a configuration cairn does not keep:
// there is nothing to delete.
func (s *Server) s3DeleteBucketConfig(w http.ResponseWriter, q *s3Request) error {
	if _, err := s.s3Bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// s3GetACL answers the one ACL cairn has: the owner has full control.
func (s *Server) s3GetACL(w http.ResponseWriter, q *s3Request) error {
	if err := s.s3Exists(q); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, ownerFullControl())
	return nil
}

// s3PutACL accepts an ACL and keeps none: cairn has no anonymous access
// and one owner, so the only effective ACL is the owner's full control.
func (s *Server) s3PutACL(w http.ResponseWriter, q *s3Request) error {
	if _, err := s3Body(q, maxCreateBucketBody); err != nil {
		return err
	}
	if err := s.s3Exists(q); err != nil {
		return err
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

// s3GetObjectTagging answers an empty tag set: cairn keeps no tags.
func (s *Server) s3GetObjectTagging(w http.ResponseWriter, q *s3Request) error {
	if err := s.s3Exists(q); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, tagging{})
	return nil
}

// s3DeleteObjectTagging deletes tags cairn does not keep: nothing to do.
func (s *Server) s3DeleteObjectTagging(w http.ResponseWriter, q *s3Request) error {
	if err := s.s3Exists(q); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// s3Exists checks that the bucket, or the object when the request names
// a key, exists.
func (s *Server) s3Exists(q *s3Request) error {
	if q.key == "" {
		_, err := s.s3Bucket(q.r.Context(), q.bucket)
		return err
	}
	if err := checkVersionID(q.query.Get("versionId")); err != nil {
		return err
	}
	_, _, err := s.lookup(q.r.Context(), q.bucket, q.key, s.cfg.ConsistentReads)
	return err
}
