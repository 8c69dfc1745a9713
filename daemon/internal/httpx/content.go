package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/raftfsm"
)

// ObjectHeaders sets the headers that describe an object on every
// surface: ETag, Last-Modified, the content headers, and the object's
// BLAKE3 digest in cairn's own headers, X-Cairn-Blake3 and its older name
// X-Cairn-Digest (never among a surface's user metadata).
func ObjectHeaders(h http.Header, o raftfsm.Object) {
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
	h.Set("X-Cairn-Blake3", o.Digest.String())
	h.Set("X-Cairn-Digest", o.Digest.String())
}

// UserMeta collects headers with the given prefix, keyed by the rest of
// the name in lower case.
func UserMeta(h http.Header, prefix string) map[string]string {
	var m map[string]string
	for k, v := range h {
		if len(k) > len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			if m == nil {
				m = map[string]string{}
			}
			m[strings.ToLower(k[len(prefix):])] = strings.Join(v, ",")
		}
	}
	return m
}

// Send answers with status and n bytes of content read from rd, which the
// caller opened (and checked) before: once the headers are out, a failure
// can only cut the response short, so it aborts the connection and the
// client sees fewer bytes than the Content-Length promised, never wrong
// ones. A HEAD gets the headers only.
func Send(w http.ResponseWriter, r *http.Request, rd io.Reader, n int64, status int, log *slog.Logger) {
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead || n == 0 {
		return
	}
	if _, err := io.CopyN(w, rd, n); err != nil {
		log.Warn("response cut short", "err", err, "path", r.URL.Path, "request_id", RequestID(r.Context()))
		panic(http.ErrAbortHandler)
	}
}
