package s3api

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"cairn/daemon/auth"
	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/mlmodel"
	"cairn/raftfsm"
)

// parseCopySource parses x-amz-copy-source: "[/]bucket/key[?versionId=v]"
// with bucket and key URL-encoded. The only version an object has is
// "null".
func parseCopySource(v string) (bucket, key string, err error) {
	p, query, _ := strings.Cut(strings.TrimPrefix(v, "/"), "?")
	if query != "" {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return "", "", apierr.InvalidArgument("x-amz-copy-source", v, "invalid copy source query %q", query)
		}
		if err := checkVersionID(vals.Get("versionId")); err != nil {
			return "", "", err
		}
	}
	p, err = url.PathUnescape(p)
	if err != nil {
		return "", "", apierr.InvalidArgument("x-amz-copy-source", v, "invalid copy source encoding: %v", err)
	}
	bucket, key, ok := strings.Cut(p, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", apierr.InvalidArgument("x-amz-copy-source", v, "invalid copy source object key: it must name the source bucket and key, sourcebucket/sourcekey")
	}
	return bucket, key, nil
}

// copySourceConditions evaluates the x-amz-copy-source-if-* headers
// against the source object, with the precedence of RFC 9110 that S3
// follows; a condition that fails is PreconditionFailed, naming it.
func copySourceConditions(h http.Header, etag string, mtime time.Time) error {
	mtime = mtime.Truncate(time.Second)
	failed := func(cond string) error {
		err := apierr.New(http.StatusPreconditionFailed, "PreconditionFailed", "at least one of the copy source preconditions you specified did not hold")
		return apierr.With(err, apierr.Elem{Name: "Condition", Value: cond})
	}
	if im := h.Get("X-Amz-Copy-Source-If-Match"); im != "" {
		if !httpx.ETagListMatch(im, etag) {
			return failed("x-amz-copy-source-If-Match")
		}
	} else if ius := h.Get("X-Amz-Copy-Source-If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mtime.After(t) {
			return failed("x-amz-copy-source-If-Unmodified-Since")
		}
	}
	if inm := h.Get("X-Amz-Copy-Source-If-None-Match"); inm != "" {
		if httpx.ETagListMatch(inm, etag) {
			return failed("x-amz-copy-source-If-None-Match")
		}
	} else if ims := h.Get("X-Amz-Copy-Source-If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !mtime.After(t) {
			return failed("x-amz-copy-source-If-Modified-Since")
		}
	}
	return nil
}

// copySource reads the source of a copy: its object and file record,
// after checking the source conditions. An error about the source names
// the source's bucket and key, not the request's, as S3 does.
func (a *API) copySource(q *s3Request) (raftfsm.Object, raftfsm.FileRecord, error) {
	sb, sk, err := parseCopySource(q.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return raftfsm.Object{}, raftfsm.FileRecord{}, err
	}
	if err := q.id.Require(auth.Read, sb); err != nil {
		return raftfsm.Object{}, raftfsm.FileRecord{}, err
	}
	src, rec, err := a.node.Lookup(q.r.Context(), sb, sk, a.cfg.ConsistentReads)
	if err == nil {
		err = copySourceConditions(q.r.Header, src.Meta.ETag, time.Unix(0, src.MTime))
	}
	return src, rec, sourceError(err, sb, sk)
}

// sourceError makes an error about the source of a copy name it: its
// Resource, and the BucketName of a NoSuchBucket or the Key of a
// NoSuchKey, which writeError would otherwise take from the request.
func sourceError(err error, bucket, key string) error {
	if err == nil {
		return nil
	}
	elems := []apierr.Elem{{Name: "Resource", Value: "/" + bucket + "/" + key}}
	switch apierr.Classify(err).Code {
	case "NoSuchBucket":
		elems = append(elems, apierr.Elem{Name: "BucketName", Value: bucket})
	case "NoSuchKey":
		elems = append(elems, apierr.Elem{Name: "Key", Value: key})
	}
	return apierr.With(err, elems...)
}

// copyObject points the key to the source's content through Raft: no
// bytes move. With x-amz-metadata-directive REPLACE the copy takes the
// request's metadata, otherwise the source's.
func (a *API) copyObject(w http.ResponseWriter, q *s3Request) error {
	r := q.r
	if err := core.CheckKey(q.key); err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	directive := strings.ToUpper(r.Header.Get("X-Amz-Metadata-Directive"))
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return apierr.InvalidArgument("x-amz-metadata-directive", directive, "unknown metadata directive %q", directive)
	}
	src, rec, err := a.copySource(q)
	if err != nil {
		return err
	}
	if src.Bucket == q.bucket && src.Key == q.key && directive != "REPLACE" {
		return apierr.BadRequest("InvalidRequest", "this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata")
	}
	cond, err := writeConditions(r.Header)
	if err != nil {
		return err
	}
	var meta raftfsm.ObjectMeta
	if directive == "REPLACE" {
		if meta, err = s3Meta(r.Header, r.Header.Get("Content-Encoding")); err != nil {
			return err
		}
	}
	cmd := &raftfsm.CopyObject{
		SrcBucket: src.Bucket, SrcKey: src.Key, Bucket: q.bucket, Key: q.key,
		ReplaceMeta: directive == "REPLACE", Meta: meta, Time: a.node.Now().UnixNano(),
		SrcIfMatch: r.Header.Get("X-Amz-Copy-Source-If-Match"), Conditions: cond,
	}
	if _, base := path.Split(q.key); base == "MLmodel" {
		rd, err := a.node.Content(r.Context(), rec.Recipe, 0)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(rd, mlmodel.MaxSize+1))
		rd.Close()
		if err != nil {
			return err
		}
		cmd.Model = mlmodel.Index(b)
		if cmd.SrcIfMatch == "" {
			cmd.SrcIfMatch = src.Meta.ETag // the model parsed is the one copied
		}
	}
	res, err := a.node.Propose(r.Context(), cmd)
	switch {
	case errors.Is(err, raftfsm.ErrPreconditionFailed) && cond == (raftfsm.Conditions{}):
		// Apply checks the source's ETag again: it changed meanwhile.
		return apierr.With(sourceError(err, src.Bucket, src.Key), apierr.Elem{Name: "Condition", Value: "x-amz-copy-source-If-Match"})
	case errors.Is(err, raftfsm.ErrNotFound) && cond.IfMatch == "":
		return sourceError(err, src.Bucket, src.Key) // the source went meanwhile
	case err != nil:
		return failedCondition(err, cond)
	}
	// A copy of an object whose ETag is not filled yet is late too; the
	// answer carries it (computed for the source above, so remembered).
	if err := a.node.ETags().Of(r.Context(), res.Object); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, copyObjectResult{LastModified: s3Time(res.Object.MTime), ETag: res.Object.Meta.ETag})
	return nil
}

// copySourceRange parses x-amz-copy-source-range, "bytes=first-last",
// against a source of size bytes; no header means the whole source. As
// S3: a range that does not parse, or whose last byte is past the end, is
// InvalidArgument; one whose first byte is past the end InvalidRequest.
func copySourceRange(h string, size int64) (httpx.Range, error) {
	if h == "" {
		return httpx.Range{Start: 0, End: size - 1}, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	first, last, ok2 := strings.Cut(spec, "-")
	a, ok3 := parseOffset(first)
	b, ok4 := parseOffset(last)
	if !ok || !ok2 || !ok3 || !ok4 || b < a {
		return httpx.Range{}, apierr.InvalidArgument("x-amz-copy-source-range", h, "the x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	}
	if a >= size {
		return httpx.Range{}, apierr.BadRequest("InvalidRequest", "the specified copy range is invalid for the source object size")
	}
	if b >= size {
		return httpx.Range{}, apierr.InvalidArgument("x-amz-copy-source-range", h, "range specified is not valid for source object of size: %d", size)
	}
	return httpx.Range{Start: a, End: b}, nil
}

// parseOffset parses a byte offset: decimal digits only, no sign.
func parseOffset(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// isMD5ETag reports whether an ETag is the MD5 of the content, as the
// ETag of an object written in one piece is.
func isMD5ETag(etag string) bool {
	e := strings.Trim(etag, `"`)
	if len(e) != 32 {
		return false
	}
	for i := 0; i < len(e); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(e[i])) {
			return false
		}
	}
	return true
}

// uploadPartCopy stores a range of an object as a part. A whole object
// written in one piece becomes the part as it is; a range is read,
// verified, from the chunk store and stored as new content (which shares
// most chunks with the source).
func (a *API) uploadPartCopy(w http.ResponseWriter, q *s3Request) error {
	ctx := q.r.Context()
	n, err := partNumber(q)
	if err != nil {
		return err
	}
	id := q.query.Get("uploadId")
	if _, _, err := a.upload(ctx, id, q.bucket, q.key); err != nil {
		return err
	}
	src, rec, err := a.copySource(q)
	if err != nil {
		return err
	}
	rng, err := copySourceRange(q.r.Header.Get("X-Amz-Copy-Source-Range"), src.Size)
	if err != nil {
		return err
	}
	var sc core.Stored
	if rng.Start == 0 && rng.End == src.Size-1 && src.Meta.Parts == 0 && isMD5ETag(src.Meta.ETag) {
		sc = core.Stored{File: raftfsm.File{Digest: src.Digest, Size: src.Size, Recipe: rec.Recipe}, ETag: src.Meta.ETag}
	} else {
		rd, err := a.node.Content(ctx, rec.Recipe, rng.Start)
		if err != nil {
			return err
		}
		defer rd.Close()
		length := rng.Len()
		if sc, err = a.node.StoreContent(ctx, io.LimitReader(rd, length), length, maxS3SinglePut, nil, nil); err != nil {
			return err
		}
	}
	if err := a.node.PutPart(ctx, id, n, sc, nil); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, copyPartResult{LastModified: s3Time(a.node.Now().UnixNano()), ETag: sc.ETag})
	return nil
}
