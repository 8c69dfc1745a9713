package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"cairn/daemon/internal/sigv4"
	"cairn/raftfsm"
)

// newUploadID returns a random, unguessable multipart upload id.
func newUploadID() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// s3Upload returns an upload of bucket/key and its parts. An upload this
// node does not know yet may have been created through another node: it
// looks again after a read barrier before answering NoSuchUpload.
func (s *Server) s3Upload(ctx context.Context, id, bucket, key string) (raftfsm.Upload, []raftfsm.Part, error) {
	if id == "" {
		return raftfsm.Upload{}, nil, fmt.Errorf("%w: empty upload id", raftfsm.ErrNoSuchUpload)
	}
	if err := s.s3Consistent(ctx); err != nil {
		return raftfsm.Upload{}, nil, err
	}
	u, parts, err := s.node.State().Upload(id)
	if errors.Is(err, raftfsm.ErrNoSuchUpload) && !s.cfg.ConsistentReads {
		if err := s.readBarrier(ctx); err != nil {
			return u, nil, err
		}
		u, parts, err = s.node.State().Upload(id)
	}
	if err != nil {
		return u, nil, err
	}
	if u.Bucket != bucket || u.Key != key {
		return u, nil, fmt.Errorf("%w: %s is not an upload of %s/%s", raftfsm.ErrNoSuchUpload, id, bucket, key)
	}
	return u, parts, nil
}

// partNumber reads the partNumber parameter of an upload request.
func partNumber(q *s3Request) (int, error) {
	n, err := strconv.Atoi(q.query.Get("partNumber"))
	if err != nil || n < 1 || n > raftfsm.MaxPartNumber {
		return 0, badRequest("InvalidArgument", "part number must be an integer between 1 and %d, inclusive", raftfsm.MaxPartNumber)
	}
	return n, nil
}

// s3CreateUpload starts a multipart upload with a random id and the
// metadata the object will have.
func (s *Server) s3CreateUpload(w http.ResponseWriter, q *s3Request) error {
	r := q.r
	if err := checkKey(q.key); err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	if alg := r.Header.Get("X-Amz-Checksum-Algorithm"); alg != "" {
		name, ok := sigv4.CanonicalChecksum(alg)
		if !ok {
			return badRequest("InvalidRequest", "checksum algorithm %q is not supported", alg)
		}
		full := strings.EqualFold(r.Header.Get("X-Amz-Checksum-Type"), "FULL_OBJECT")
		if full != (name == sigv4.ChecksumCRC64NVME) {
			return requestErr(http.StatusNotImplemented, "NotImplemented", "cairn computes %s multipart checksums as %s only", name, checksumTypeOf(name))
		}
		w.Header().Set("X-Amz-Checksum-Algorithm", name)
		w.Header().Set("X-Amz-Checksum-Type", checksumTypeOf(name))
	}
	meta, err := s3Meta(r.Header, r.Header.Get("Content-Encoding"))
	if err != nil {
		return err
	}
	id := newUploadID()
	_, err = s.propose(r.Context(), &raftfsm.CreateUpload{
		UploadID: id, Bucket: q.bucket, Key: q.key, Meta: meta, Time: s.cfg.Now().UnixNano(),
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

// s3UploadPart stores a part as PutObject stores an object, then records
// it in the upload. The last part applied under a number wins.
func (s *Server) s3UploadPart(w http.ResponseWriter, q *s3Request) error {
	r := q.r
	n, err := partNumber(q)
	if err != nil {
		return err
	}
	id := q.query.Get("uploadId")
	if _, _, err := s.s3Upload(r.Context(), id, q.bucket, q.key); err != nil {
		return err
	}
	if r.ContentLength < 0 && !q.auth.Payload.Chunked() {
		return requestErr(http.StatusLengthRequired, "MissingContentLength", "you must provide the Content-Length HTTP header")
	}
	body, err := q.auth.Body(r)
	if err != nil {
		return err
	}
	defer body.Close()
	checksums := map[string]string{}
	if err := s.roomFor(body.ExpectedLength()); err != nil {
		return err
	}
	sc, err := s.storeContent(r.Context(), body, body.ExpectedLength(), maxS3SinglePut, body.MD5, func() error {
		maps.Copy(checksums, body.Checksums())
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.putPart(r.Context(), id, n, sc, checksums); err != nil {
		return err
	}
	w.Header().Set("ETag", sc.ETag)
	for alg, v := range checksums {
		w.Header().Set(sigv4.ChecksumHeader(alg), v)
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

// putPart commits a stored part.
func (s *Server) putPart(ctx context.Context, id string, n int, sc storedContent, checksums map[string]string) error {
	_, err := s.propose(ctx, &raftfsm.PutPart{
		UploadID: id, Number: n, File: sc.File, ETag: sc.ETag, Checksums: checksums, Time: s.cfg.Now().UnixNano(),
	})
	return err
}

// s3AbortUpload drops an upload and its parts. Once the upload completed
// it is gone: NoSuchUpload, and the object stays as it is.
func (s *Server) s3AbortUpload(w http.ResponseWriter, q *s3Request) error {
	id := q.query.Get("uploadId")
	if _, _, err := s.s3Upload(q.r.Context(), id, q.bucket, q.key); err != nil {
		return err
	}
	if _, err := s.propose(q.r.Context(), &raftfsm.AbortUpload{UploadID: id}); err != nil {
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
		return 0, badRequest("InvalidArgument", "%s must be a non-negative integer, not %q", name, v)
	}
	return min(n, limit), nil
}

// s3ListParts lists an upload's parts in number order, from
// part-number-marker on.
func (s *Server) s3ListParts(w http.ResponseWriter, q *s3Request) error {
	marker, err := intParam(q, "part-number-marker", 0, raftfsm.MaxPartNumber)
	if err != nil {
		return err
	}
	maxParts, err := intParam(q, "max-parts", 1000, 1000)
	if err != nil {
		return err
	}
	id := q.query.Get("uploadId")
	_, parts, err := s.s3Upload(q.r.Context(), id, q.bucket, q.key)
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
