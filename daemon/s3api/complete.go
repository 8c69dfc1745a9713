package s3api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/sigv4"
	"cairn/raftfsm"
)

// completeUpload makes an upload's parts an object. It reads the parts
// the upload holds now, concatenates their recipes, hashes the whole
// content and proposes the object with the part digests it read, so that
// Apply refuses it if a part was replaced meanwhile. A Complete of an
// upload that is gone is proposed as is: Apply answers it with the object
// when the same list completed it, and NoSuchUpload otherwise.
func (a *API) completeUpload(w http.ResponseWriter, q *s3Request) error {
	ctx := q.r.Context()
	id := q.query.Get("uploadId")
	declared := declaredChecksums(q.r.Header)
	body, err := s3Body(q, maxS3XMLBody)
	if err != nil {
		return err
	}
	parts, err := parseCompleteXML(body)
	if err != nil {
		return err
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].PartNumber <= parts[i-1].PartNumber {
			return apierr.BadRequest("InvalidPartOrder", "the list of parts was not in ascending order: %d after %d", parts[i].PartNumber, parts[i-1].PartNumber)
		}
	}
	cps := coreParts(parts)
	etag, err := core.MultipartETag(cps)
	if err != nil {
		return err
	}
	cmd := &raftfsm.CompleteUpload{UploadID: id, Bucket: q.bucket, Key: q.key, ETag: etag,
		Time: a.node.Now().UnixNano(), Conditions: writeConditions(q.r.Header)}
	_, stored, err := a.upload(ctx, id, q.bucket, q.key)
	switch {
	case errors.Is(err, raftfsm.ErrNoSuchUpload):
		for _, p := range parts {
			cmd.Parts = append(cmd.Parts, raftfsm.CompletePart{Number: p.PartNumber, ETag: p.ETag})
		}
	case err != nil:
		return err
	default:
		if err := a.node.FillCompletion(ctx, cmd, cps, stored); err != nil {
			return err
		}
	}
	for alg, v := range declared {
		if got, ok := cmd.Checksums[alg]; ok && stripParts(got) != stripParts(v) {
			return apierr.BadRequest("BadDigest", "the %s checksum of the object is %s, not %s", alg, got, v)
		}
	}
	res, err := a.node.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	scheme := "http"
	if q.r.TLS != nil {
		scheme = "https"
	}
	loc := (&url.URL{Scheme: scheme, Host: q.r.Host, Path: "/" + q.bucket + "/" + q.key}).String()
	writeXML(w, http.StatusOK, completeMultipartUploadResult{
		Location: loc, Bucket: q.bucket, Key: q.key, ETag: res.Object.Meta.ETag,
		checksumFields: checksumElements(res.Object.Meta.Checksums),
	})
	return nil
}

// declaredChecksums takes the x-amz-checksum-* headers off a Complete
// request and returns them. On CompleteMultipartUpload they declare the
// object's checksum, not the body's, so the body must not be checked
// against them.
func declaredChecksums(h http.Header) map[string]string {
	out := map[string]string{}
	for _, alg := range sigv4.ChecksumAlgorithms() {
		name := sigv4.ChecksumHeader(alg)
		if v := h.Get(name); v != "" {
			out[alg] = v
		}
		h.Del(name)
	}
	return out
}

// stripParts drops the -N part count of a composite checksum.
func stripParts(v string) string {
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		return v[:i]
	}
	return v
}

// coreParts returns the parts of a Complete's body as core takes them.
func coreParts(parts []completePart) []core.CompletePart {
	out := make([]core.CompletePart, len(parts))
	for i, p := range parts {
		out[i] = core.CompletePart{Number: p.PartNumber, ETag: p.ETag, Checksums: p.checksumMap()}
	}
	return out
}
