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

// completeUpload makes an upload's parts an object. It looks the upload
// up first, as S3 does (an unknown id is NoSuchUpload whatever the list),
// then reads the list, reads the parts the upload holds now, concatenates
// their recipes, hashes the whole content and proposes the object with
// the part digests it read, so that Apply refuses it if a part was
// replaced meanwhile. A Complete of an upload that completed is proposed
// as it is: Apply answers it with the object when the same list completed
// it, and NoSuchUpload otherwise.
func (a *API) completeUpload(w http.ResponseWriter, q *s3Request) error {
	ctx := q.r.Context()
	id := q.query.Get("uploadId")
	declared := declaredChecksums(q.r.Header)
	body, err := s3Body(q, maxS3XMLBody)
	if err != nil {
		return err
	}
	cond, err := writeConditions(q.r.Header)
	if err != nil {
		return err
	}
	_, stored, err := a.upload(ctx, id, q.bucket, q.key)
	completed := errors.Is(err, raftfsm.ErrNoSuchUpload) && a.completedBy(q, id)
	if err != nil && !completed {
		return err
	}
	parts, err := parseCompleteXML(body)
	if err != nil {
		return err
	}
	if parts, err = collapseParts(parts); err != nil {
		return err
	}
	cps := coreParts(parts)
	etag, err := core.MultipartETag(cps)
	if err != nil {
		return err
	}
	cmd := &raftfsm.CompleteUpload{UploadID: id, Bucket: q.bucket, Key: q.key, ETag: etag,
		Time: a.node.Now().UnixNano(), Conditions: cond}
	if !completed {
		if err := a.node.FillCompletion(ctx, cmd, cps, stored); err != nil {
			// The upload ended while its parts were read: by this list's
			// Complete, this is its retry.
			if !errors.Is(err, raftfsm.ErrNoSuchUpload) || !a.completedBy(q, id) {
				return err
			}
			completed = true
			*cmd = raftfsm.CompleteUpload{UploadID: id, Bucket: q.bucket, Key: q.key, ETag: etag,
				Time: cmd.Time, Conditions: cond}
		}
	}
	if completed {
		for _, p := range parts {
			cmd.Parts = append(cmd.Parts, raftfsm.CompletePart{Number: p.PartNumber, ETag: p.ETag})
		}
	}
	for alg, v := range declared {
		if got, ok := cmd.Checksums[alg]; ok && stripParts(got) != stripParts(v) {
			return apierr.BadRequest("BadDigest", "the %s checksum of the object is %s, not %s", alg, got, v)
		}
	}
	res, err := a.node.Propose(ctx, cmd)
	if err != nil {
		return failedCondition(err, cond)
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

// completedBy reports whether the object at the request's key is the
// one upload id completed: a Complete of it is a retry, not of an unknown
// upload.
func (a *API) completedBy(q *s3Request, id string) bool {
	o, _, err := a.node.State().Object(q.bucket, q.key)
	return err == nil && o.UploadID == id
}

// collapseParts checks that the part numbers of a Complete's list do not
// decrease, and keeps of a number listed more than once its last entry,
// as RGW does: a client that uploaded a part again may list both ETags,
// in the order the uploads finished, and the last one finished is the
// part the upload holds. The multipart ETag is computed from the list it
// returns.
func collapseParts(parts []completePart) ([]completePart, error) {
	out := make([]completePart, 0, len(parts))
	for i, p := range parts {
		if i > 0 && p.PartNumber < parts[i-1].PartNumber {
			return nil, apierr.BadRequest("InvalidPartOrder", "the list of parts was not in ascending order: %d after %d", p.PartNumber, parts[i-1].PartNumber)
		}
		if n := len(out); n > 0 && out[n-1].PartNumber == p.PartNumber {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	return out, nil
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
