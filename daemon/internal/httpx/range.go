package httpx

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/daemon/internal/apierr"
)

// Range is an inclusive range of an object's bytes.
type Range struct{ Start, End int64 }

// Whole is the range of every byte of an object of size bytes.
func Whole(size int64) Range { return Range{0, size - 1} }

// Len is how many bytes the range covers.
func (r Range) Len() int64 { return r.End - r.Start + 1 }

// ContentRange is the Content-Range header of r in an object of size
// bytes.
func (r Range) ContentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", r.Start, r.End, size)
}

// ParseRange parses a single-range Range header against an object of size
// bytes. ok is false when the header is absent or not a single bytes
// range, which is answered with the whole object; an unsatisfiable range
// is an InvalidRange error.
func ParseRange(h string, size int64) (Range, bool, error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if h == "" || !found || strings.Contains(spec, ",") {
		return Range{}, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return Range{}, false, nil
	}
	invalid := apierr.New(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "the range %q is not satisfiable for %d bytes", h, size)
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return Range{}, false, nil
		}
		if n == 0 || size == 0 {
			return Range{}, false, invalid
		}
		return Range{max(0, size-n), size - 1}, true, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return Range{}, false, nil
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return Range{}, false, nil
		}
		b = min(b, size-1)
	}
	if a >= size {
		return Range{}, false, invalid
	}
	return Range{a, b}, true, nil
}

// Preconditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in the order RFC 9110 gives. It returns 0 to go on,
// 304 or 412.
func Preconditions(r *http.Request, etag string, mtime time.Time) int {
	if im := r.Header.Get("If-Match"); im != "" {
		if !ETagListMatch(im, etag) {
			return http.StatusPreconditionFailed
		}
	} else if ius := r.Header.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mtime.Truncate(time.Second).After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if ETagListMatch(inm, etag) {
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

// ETagListMatch reports whether a comma-separated list of entity tags (or
// "*") matches etag, weak or strong.
func ETagListMatch(list, etag string) bool {
	for _, c := range strings.Split(list, ",") {
		if c = strings.TrimSpace(c); c == "*" || NormETag(c) == NormETag(etag) {
			return true
		}
	}
	return false
}

// NormETag strips the quotes and weak prefix of an ETag.
func NormETag(s string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
}
