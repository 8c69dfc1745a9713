package s3api

import (
	"errors"
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

// s3Meta reads an object's metadata from the request headers. The
// Content-Encoding is the one the body had once aws-chunked was removed.
func s3Meta(h http.Header, contentEncoding string) (raftfsm.ObjectMeta, error) {
	user, err := userMeta(h)
	return raftfsm.ObjectMeta{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    contentEncoding,
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		User:               user,
	}, err
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
			return apierr.NotImplemented(name, "cairn does not implement %s", name)
		}
	}
	if sc := h.Get("X-Amz-Storage-Class"); sc != "" && sc != "STANDARD" {
		err := apierr.BadRequest("InvalidStorageClass", "the storage class %q is not supported; cairn has STANDARD only", sc)
		return apierr.With(err, apierr.Elem{Name: "StorageClassRequested", Value: sc})
	}
	return nil
}

// checkVersionID accepts the only version an unversioned object has,
// "null". cairn gives no other version id, so any other is refused as
// S3 refuses one it could not have given.
func checkVersionID(v string) error {
	if v == "" || v == "null" {
		return nil
	}
	return apierr.InvalidArgument("versionId", v, "invalid version id specified")
}

// writeConditions are the conditions of a write on the key's current
// object, checked atomically when the write applies. As S3, a write takes
// If-None-Match: * or If-Match: <etag>, one of them: anything else is
// NotImplemented.
func writeConditions(h http.Header) (raftfsm.Conditions, error) {
	c := raftfsm.Conditions{IfMatch: h.Get("If-Match"), IfNoneMatch: h.Get("If-None-Match")}
	switch {
	case c.IfMatch != "" && c.IfNoneMatch != "":
		return c, apierr.NotImplemented("If-Match,If-None-Match", "a write takes If-Match or If-None-Match, not both")
	case c.IfMatch == "*":
		return c, apierr.NotImplemented("If-Match", "we don't accept the provided value of If-Match header for this API")
	case c.IfNoneMatch != "" && c.IfNoneMatch != "*":
		return c, apierr.NotImplemented("If-None-Match", "we don't accept the provided value of If-None-Match header for this API")
	}
	return c, nil
}

// failedCondition names, in a PreconditionFailed, the condition of a
// write that did not hold.
func failedCondition(err error, c raftfsm.Conditions) error {
	if !errors.Is(err, raftfsm.ErrPreconditionFailed) {
		return err
	}
	name := "If-Match"
	if c.IfNoneMatch != "" {
		name = "If-None-Match"
	}
	return apierr.With(err, apierr.Elem{Name: "Condition", Value: name})
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
	cond, err := writeConditions(r.Header)
	if err != nil {
		return err
	}
	// A body of unknown length (Transfer-Encoding: chunked, no
	// aws-chunked framing) is taken, where S3 answers 501: its size is
	// checked as it is read, and its SHA-256, when signed, at its end.
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
		Bucket: q.bucket, Key: q.key, Body: body, Length: body.ExpectedLength(), Limit: maxS3SinglePut, Meta: meta,
		Conditions: cond, BodyMD5: body.MD5,
		Finish: func() error { maps.Copy(meta.Checksums, body.Checksums()); return nil },
	})
	if err != nil {
		return failedCondition(err, cond)
	}
	w.Header().Set("ETag", res.Object.Meta.ETag)
	w.Header().Set("X-Cairn-Blake3", res.Object.Digest.String())
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
		cond := "If-Match"
		if r.Header.Get("If-Match") == "" {
			cond = "If-Unmodified-Since"
		}
		err := apierr.New(http.StatusPreconditionFailed, "PreconditionFailed", "at least one of the preconditions you specified did not hold")
		return apierr.With(err, apierr.Elem{Name: "Condition", Value: cond})
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
	for k, v := range o.Meta.User {
		h["x-amz-meta-"+k] = []string{encodeMetaValue(v)}
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
			return rng, 0, apierr.With(err, apierr.Elem{Name: "RangeRequested", Value: q.r.Header.Get("Range")},
				apierr.Elem{Name: "ActualObjectSize", Value: strconv.FormatInt(o.Size, 10)})
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
		return whole, 0, apierr.InvalidArgument("partNumber", pn, "part number must be an integer between 1 and %d", raftfsm.MaxPartNumber)
	}
	sizes := o.Meta.PartSizes
	if len(sizes) == 0 {
		sizes = []int64{o.Size}
	}
	if n > len(sizes) {
		err := apierr.New(http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "the requested partnumber is not satisfiable: the object has %d parts", len(sizes))
		return whole, 0, apierr.With(err, apierr.Elem{Name: "PartNumberRequested", Value: strconv.Itoa(n)},
			apierr.Elem{Name: "ActualPartCount", Value: strconv.Itoa(len(sizes))})
	}
	if o.Meta.Parts > 0 {
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(o.Meta.Parts))
	}
	var start int64
	for _, sz := range sizes[:n-1] {
		start += sz
	}
	rng := httpx.Range{Start: start, End: start + sizes[n-1] - 1}
	if sizes[n-1] == 0 {
		return rng, http.StatusOK, nil // no range describes an empty part
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
