package s3api

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/sigv4"
	"cairn/raftfsm"
)

// upload returns an upload of bucket/key and its parts (see
// core.Node.Upload). As S3, a request on an upload of a bucket that does
// not exist is NoSuchBucket, not NoSuchUpload.
func (a *API) upload(ctx context.Context, id, bucket, key string) (raftfsm.Upload, []raftfsm.Part, error) {
	u, parts, err := a.node.Upload(ctx, id, bucket, key, a.cfg.ConsistentReads)
	if errors.Is(err, raftfsm.ErrNoSuchUpload) {
		if _, berr := a.node.State().Bucket(bucket); errors.Is(berr, raftfsm.ErrNoSuchBucket) {
			return u, nil, berr
		}
	}
	return u, parts, err
}

// partNumber reads the partNumber parameter of an upload request.
func partNumber(q *s3Request) (int, error) {
	n, err := strconv.Atoi(q.query.Get("partNumber"))
	if err != nil || n < 1 || n > raftfsm.MaxPartNumber {
		return 0, apierr.InvalidArgument("partNumber", q.query.Get("partNumber"), "part number must be an integer between 1 and %d, inclusive", raftfsm.MaxPartNumber)
	}
	return n, nil
}

// createUpload starts a multipart upload with a random id and the
// metadata the object will have.
func (a *API) createUpload(w http.ResponseWriter, q *s3Request) error {
	r := q.r
	if err := core.CheckKey(q.key); err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	if alg := r.Header.Get("X-Amz-Checksum-Algorithm"); alg != "" {
		name, ok := sigv4.CanonicalChecksum(alg)
		if !ok {
			return apierr.BadRequest("InvalidRequest", "checksum algorithm %q is not supported", alg)
		}
		full := strings.EqualFold(r.Header.Get("X-Amz-Checksum-Type"), "FULL_OBJECT")
		if full != (name == sigv4.ChecksumCRC64NVME) {
			return apierr.New(http.StatusNotImplemented, "NotImplemented", "cairn computes %s multipart checksums as %s only", name, checksumTypeOf(name))
		}
		w.Header().Set("X-Amz-Checksum-Algorithm", name)
		w.Header().Set("X-Amz-Checksum-Type", checksumTypeOf(name))
	}
	meta, err := s3Meta(r.Header, r.Header.Get("Content-Encoding"))
	if err != nil {
		return err
	}
	id := core.NewUploadID()
	_, err = a.node.Propose(r.Context(), &raftfsm.CreateUpload{
		UploadID: id, Bucket: q.bucket, Key: q.key, Meta: meta, Time: a.node.Now().UnixNano(),
	})
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, initiateMultipartUploadResult{Bucket: q.bucket, Key: q.key, UploadID: id})
	return nil
}

// checksumTypeOf returns the type of multipart checksum cairn computes
// with alg: CRC64NVME over the whole object, the others over the parts'.
func checksumTypeOf(alg string) string {
	if alg == sigv4.ChecksumCRC64NVME {
		return "FULL_OBJECT"
	}
	return "COMPOSITE"
}

// uploadPart stores a part as PutObject stores an object, then records
// it in the upload. The last part applied under a number wins.
func (a *API) uploadPart(w http.ResponseWriter, q *s3Request) error {
	r := q.r
	n, err := partNumber(q)
	if err != nil {
		return err
	}
	id := q.query.Get("uploadId")
	if _, _, err := a.upload(r.Context(), id, q.bucket, q.key); err != nil {
		return err
	}
	// A part of unknown length is taken as PutObject takes a body of
	// unknown length: its size is checked as it is read.
	body, err := q.auth.Body(r)
	if err != nil {
		return err
	}
	defer body.Close()
	checksums := map[string]string{}
	if err := a.node.RoomFor(body.ExpectedLength()); err != nil {
		return err
	}
	sc, err := a.node.StoreContent(r.Context(), body, body.ExpectedLength(), maxS3SinglePut, body.MD5, func() error {
		maps.Copy(checksums, body.Checksums())
		return nil
	})
	if err != nil {
		return err
	}
	if err := a.node.PutPart(r.Context(), id, n, sc, checksums); err != nil {
		return err
	}
	w.Header().Set("ETag", sc.ETag)
	for alg, v := range checksums {
		w.Header().Set(sigv4.ChecksumHeader(alg), v)
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

// abortUpload drops an upload and its parts. Once the upload completed
// it is gone: NoSuchUpload, and the object stays as it is.
func (a *API) abortUpload(w http.ResponseWriter, q *s3Request) error {
	id := q.query.Get("uploadId")
	if _, _, err := a.upload(q.r.Context(), id, q.bucket, q.key); err != nil {
		return err
	}
	if _, err := a.node.Propose(q.r.Context(), &raftfsm.AbortUpload{UploadID: id}); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// intParam reads an integer query parameter in [0, limit] (def when
// absent); a value above limit is limit.
func intParam(q *s3Request, name string, def, limit int) (int, error) {
	v := q.query.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, apierr.InvalidArgument(name, v, "%s must be a non-negative integer, not %q", name, v)
	}
	return min(n, limit), nil
}

// listParts lists an upload's parts in number order, from
// part-number-marker on.
func (a *API) listParts(w http.ResponseWriter, q *s3Request) error {
	marker, err := intParam(q, "part-number-marker", 0, raftfsm.MaxPartNumber)
	if err != nil {
		return err
	}
	maxParts, err := intParam(q, "max-parts", 1000, 1000)
	if err != nil {
		return err
	}
	id := q.query.Get("uploadId")
	_, parts, err := a.upload(q.r.Context(), id, q.bucket, q.key)
	if err != nil {
		return err
	}
	out := listPartsResult{
		Bucket: q.bucket, Key: q.key, UploadID: id, Initiator: owner(), Owner: owner(),
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: maxParts, Parts: []s3Part{},
	}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(out.Parts) == maxParts {
			out.IsTruncated = true
			break
		}
		c := checksumElements(p.Checksums)
		c.ChecksumType = ""
		out.Parts = append(out.Parts, s3Part{PartNumber: p.Number, LastModified: s3Time(p.Time), ETag: p.ETag, Size: p.Size, checksumFields: c})
		out.NextPartNumberMarker = p.Number
	}
	writeXML(w, http.StatusOK, out)
	return nil
}
