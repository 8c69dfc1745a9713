package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/raftfsm"
)

// lookup reads an object's record, from this node's state or, for a
// consistent read, after the leader has confirmed it is current.
func (s *Server) lookup(ctx context.Context, bucket, key string, consistent bool) (raftfsm.Object, raftfsm.FileRecord, error) {
	if consistent {
		if err := s.readBarrier(ctx); err != nil {
			return raftfsm.Object{}, raftfsm.FileRecord{}, err
		}
	}
	return s.node.State().Object(bucket, key)
}

// readBarrier makes later reads on this node see every write committed
// before the call: the leader confirms its leadership and applies what it
// committed; a follower asks the leader for its commit index and waits to
// apply up to it.
func (s *Server) readBarrier(ctx context.Context) error {
	err := s.node.Barrier(ctx)
	if !errors.Is(err, raftfsm.ErrNotLeader) {
		return err
	}
	index, err := s.leaderIndex(ctx)
	if err != nil {
		return err
	}
	return s.node.WaitApplied(ctx, index)
}

// byteRange is an inclusive range of an object.
type byteRange struct{ start, end int64 }

// parseRange parses a single-range Range header against an object of
// size bytes. ok is false when the header is absent or not a single
// bytes range, which S3 answers with the whole object; an unsatisfiable
// range is an InvalidRange error.
func parseRange(h string, size int64) (byteRange, bool, error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if h == "" || !found || strings.Contains(spec, ",") {
		return byteRange{}, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return byteRange{}, false, nil
	}
	invalid := requestErr(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "the range %q is not satisfiable for %d bytes", h, size)
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return byteRange{}, false, nil
		}
		if n == 0 || size == 0 {
			return byteRange{}, false, invalid
		}
		return byteRange{max(0, size-n), size - 1}, true, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return byteRange{}, false, nil
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return byteRange{}, false, nil
		}
		b = min(b, size-1)
	}
	if a >= size {
		return byteRange{}, false, invalid
	}
	return byteRange{a, b}, true, nil
}

// preconditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in the order RFC 9110 gives. It returns 0 to go on,
// 304 or 412.
func preconditions(r *http.Request, etag string, mtime time.Time) int {
	if im := r.Header.Get("If-Match"); im != "" {
		if !etagListMatch(im, etag) {
			return http.StatusPreconditionFailed
		}
	} else if ius := r.Header.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mtime.Truncate(time.Second).After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etagListMatch(inm, etag) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if t, err := http.ParseTime(ims); err == nil && !mtime.Truncate(time.Second).After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

func etagListMatch(list, etag string) bool {
	norm := func(s string) string { return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`) }
	for _, c := range strings.Split(list, ",") {
		if c = strings.TrimSpace(c); c == "*" || norm(c) == norm(etag) {
			return true
		}
	}
	return false
}

// objectHeaders sets the headers that describe an object.
func objectHeaders(h http.Header, o raftfsm.Object) {
	m := o.Meta
	h.Set("ETag", m.ETag)
	h.Set("Last-Modified", time.Unix(0, o.MTime).UTC().Format(http.TimeFormat))
	ct := m.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	for k, v := range map[string]string{
		"Content-Encoding": m.ContentEncoding, "Content-Disposition": m.ContentDisposition,
		"Content-Language": m.ContentLanguage, "Cache-Control": m.CacheControl, "Expires": m.Expires,
	} {
		if v != "" {
			h.Set(k, v)
		}
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Cairn-Digest", o.Digest.String())
	h.Set("X-Amz-Meta-Cairn-Blake3", o.Digest.String())
}

// sendContent streams part of an object's content, every chunk verified.
// Once the headers are out, a failure can only cut the response short, so
// it aborts the connection: the client sees fewer bytes than the
// Content-Length promised, never wrong ones.
func (s *Server) sendContent(ctx context.Context, w http.ResponseWriter, r *http.Request, rec raftfsm.FileRecord, rng byteRange, status int) {
	if err := s.ensureLocal(ctx, rec.Recipe); err != nil {
		s.writeErrorFor(w, r, err)
		return
	}
	n := rng.end - rng.start + 1
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead || n == 0 {
		return
	}
	rd := s.store.Open(ctx, rec.Recipe)
	defer rd.Close()
	if _, err := rd.Seek(rng.start, io.SeekStart); err != nil {
		panic(http.ErrAbortHandler)
	}
	if _, err := io.CopyN(w, rd, n); err != nil {
		s.log.Warn("response cut short", "err", err, "path", r.URL.Path)
		panic(http.ErrAbortHandler)
	}
}

// writeErrorFor answers with an error in the form of the surface the
// request came through.
func (s *Server) writeErrorFor(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/"):
		writeJSONError(w, err)
	case strings.HasPrefix(r.URL.Path, mlflowPrefix):
		writeMLflowError(w, err)
	default:
		s.writeS3Error(w, r, err)
	}
}

func contentRange(rng byteRange, size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", rng.start, rng.end, size)
}
