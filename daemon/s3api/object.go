package s3api

import (
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/internal/sigv4"
	"cairn/raftfsm"
)

// maxUserMeta bounds the x-amz-meta-* headers of an object, names and
// values together, as S3 does.
const maxUserMeta = 2 << 10

// s3Meta reads an object's metadata from the request headers. The
// Content-Encoding is the one the body had once aws-chunked was removed.
func s3Meta(h http.Header, contentEncoding string) (raftfsm.ObjectMeta, error) {
	m := raftfsm.ObjectMeta{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    contentEncoding,
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		User:               httpx.UserMeta(h, "X-Amz-Meta-"),
	}
	// The digest cairn shows as metadata is derived, never stored.
	delete(m.User, "cairn-blake3")
	n := 0
	for k, v := range m.User {
		n += len(k) + len(v)
	}
	if n > maxUserMeta {
		return m, apierr.BadRequest("MetadataTooLarge", "the user metadata takes %d bytes, over the %d allowed", n, maxUserMeta)
	}
	return m, nil
}

// checkWriteHeaders refuses the write options cairn does not implement,
// so that a client asking for encryption or a lock is not told it has one.
func checkWriteHeaders(h http.Header) error {
	for _, name := range []string{
		"X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Customer-Algorithm",
		"X-Amz-Object-Lock-Mode", "X-Amz-Object-Lock-Legal-Hold", "X-Amz-Tagging",
		"X-Amz-Website-Redirect-Location",
	} {
		if h.Get(name) != "" {
			return apierr.New(http.StatusNotImplemented, "NotImplemented", "cairn does not implement %s", name)
		}
	}
	if sc := h.Get("X-Amz-Storage-Class"); sc != "" && sc != "STANDARD" {
		return apierr.BadRequest("InvalidStorageClass", "the storage class %q is not supported; cairn has STANDARD only", sc)
	}
	return nil
}

// checkVersionID accepts the only version an unversioned object has.
func checkVersionID(v string) error {
	if v == "" || v == "null" {
		return nil
	}
	return apierr.New(http.StatusNotFound, "NoSuchVersion", "the version %q does not exist: the bucket is not versioned", v)
}

// writeConditions are the conditions of a write on the key's current
// object, checked atomically when the write applies.
func writeConditions(h http.Header) raftfsm.Conditions {
	return raftfsm.Conditions{IfMatch: h.Get("If-Match"), IfNoneMatch: h.Get("If-None-Match")}
}

// putObject stores the body, verified as it streams, and commits the
// object only when the body ended with every signature and checksum
// right.
func (a *API) putObject(w http.ResponseWriter, q *s3Request) error {
	r := q.r
	if err := core.CheckKey(q.key); err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	if r.ContentLength < 0 && !q.auth.Payload.Chunked() {
		return apierr.New(http.StatusLengthRequired, "MissingContentLength", "you must provide the Content-Length HTTP header")
	}
	body, err := q.auth.Body(r)
	if err != nil {
		return err
	}
	defer body.Close()
	if body.ExpectedLength() > maxS3SinglePut {
		return apierr.BadRequest("EntityTooLarge", "a single PUT takes at most %d bytes; use a multipart upload", int64(maxS3SinglePut))
	}
	meta, err := s3Meta(r.Header, body.ContentEncoding())
	if err != nil {
		return err
	}
	meta.Checksums = map[string]string{}
	res, err := a.node.Put(r.Context(), core.PutRequest{
		Bucket: q.bucket, Key: q.key, Body: body, Length: body.ExpectedLength(), Meta: meta,
		Conditions: writeConditions(r.Header), BodyMD5: body.MD5,
		Finish: func() error { maps.Copy(meta.Checksums, body.Checksums()); return nil },
	})
	if err != nil {
		return err
	}
	w.Header().Set("ETag", res.Object.Meta.ETag)
	for alg, v := range res.Object.Meta.Checksums {
		w.Header().Set(sigv4.ChecksumHeader(alg), v)
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

// getObject answers GetObject and HeadObject: conditions first, then
// the range or part asked for, then the content, every chunk verified.
func (a *API) getObject(w http.ResponseWriter, q *s3Request) error {
	r := q.r
	if err := checkVersionID(q.query.Get("versionId")); err != nil {
		return err
	}
	o, rec, err := a.node.Lookup(r.Context(), q.bucket, q.key, a.cfg.ConsistentReads)
	if err != nil {
		return err
	}
	switch httpx.Preconditions(r, o.Meta.ETag, time.Unix(0, o.MTime)) {
	case http.StatusPreconditionFailed:
		return apierr.New(http.StatusPreconditionFailed, "PreconditionFailed", "at least one of the preconditions you specified did not hold")
	case http.StatusNotModified:
		w.Header().Set("ETag", o.Meta.ETag)
		w.Header().Set("Last-Modified", time.Unix(0, o.MTime).UTC().Format(http.TimeFormat))
		writeEmpty(w, http.StatusNotModified)
		return nil
	}
	rng, status, err := s3Span(q, o, w.Header())
	if err != nil {
		return err
	}
	var content io.ReadCloser
	if r.Method != http.MethodHead {
		if content, err = a.node.Content(r.Context(), rec.Recipe, rng.Start); err != nil {
			return err
		}
		defer content.Close()
	}
	h := w.Header()
	httpx.ObjectHeaders(h, o)
	// User metadata goes out in lower case, as S3 sends it: boto3 takes
	// the names as they come.
	h.Del("X-Amz-Meta-Cairn-Blake3")
	h["x-amz-meta-cairn-blake3"] = []string{o.Digest.String()}
	for k, v := range o.Meta.User {
		h["x-amz-meta-"+k] = []string{v}
	}
	for _, o := range []struct{ param, header string }{
		{"response-content-type", "Content-Type"}, {"response-content-language", "Content-Language"},
		{"response-expires", "Expires"}, {"response-cache-control", "Cache-Control"},
		{"response-content-disposition", "Content-Disposition"}, {"response-content-encoding", "Content-Encoding"},
	} {
		if v := q.query.Get(o.param); v != "" {
			h.Set(o.header, v)
		}
	}
	whole := rng.Start == 0 && rng.End == o.Size-1
	if whole && strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		for alg, v := range o.Meta.Checksums {
			h.Set(sigv4.ChecksumHeader(alg), v)
			h.Set("X-Amz-Checksum-Type", checksumType(v))
		}
	}
	httpx.Send(w, r, content, rng.Len(), status, a.log)
	return nil
}

// s3Span returns the part of an object a GET asks for, by Range header or
// partNumber, and the status to answer with; it sets Content-Range and
// the part count.
func s3Span(q *s3Request, o raftfsm.Object, h http.Header) (httpx.Range, int, error) {
	whole := httpx.Range{Start: 0, End: o.Size - 1}
	pn := q.query.Get("partNumber")
	if pn == "" {
		rng, partial, err := httpx.ParseRange(q.r.Header.Get("Range"), o.Size)
		if err != nil {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(o.Size, 10))
			return rng, 0, err
		}
		if !partial {
			return whole, http.StatusOK, nil
		}
		h.Set("Content-Range", rng.ContentRange(o.Size))
		return rng, http.StatusPartialContent, nil
	}
	if q.r.Header.Get("Range") != "" {
		return whole, 0, apierr.BadRequest("InvalidRequest", "cannot specify both Range header and partNumber query parameter")
	}
	n, err := strconv.Atoi(pn)
	if err != nil || n < 1 || n > raftfsm.MaxPartNumber {
		return whole, 0, apierr.BadRequest("InvalidArgument", "part number must be an integer between 1 and %d", raftfsm.MaxPartNumber)
	}
	sizes := o.Meta.PartSizes
	if len(sizes) == 0 {
		sizes = []int64{o.Size}
	}
	if n > len(sizes) {
		return whole, 0, apierr.New(http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "the object has %d parts, not %d", len(sizes), n)
	}
	if o.Meta.Parts > 0 {
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(o.Meta.Parts))
	}
	var start int64
	for _, sz := range sizes[:n-1] {
		start += sz
	}
	rng := httpx.Range{Start: start, End: start + sizes[n-1] - 1}
	if o.Meta.Parts == 0 || sizes[n-1] == 0 {
		return rng, http.StatusOK, nil
	}
	h.Set("Content-Range", rng.ContentRange(o.Size))
	return rng, http.StatusPartialContent, nil
}

// deleteObject deletes a key; a missing key is not an error, as in S3.
func (a *API) deleteObject(w http.ResponseWriter, q *s3Request) error {
	if err := checkVersionID(q.query.Get("versionId")); err != nil {
		return err
	}
	_, err := a.node.Propose(q.r.Context(), &raftfsm.DeleteObject{
		Bucket: q.bucket, Key: q.key, Conditions: raftfsm.Conditions{IfMatch: q.r.Header.Get("If-Match")},
	})
	if err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}
