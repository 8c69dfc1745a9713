package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// queryParam is one decoded name=value pair of a query string.
type queryParam struct{ name, value string }

// parseQuery splits a raw query string into its decoded pairs, in order. A
// pair without '=' has an empty value ("?uploads"); '+' decodes to a space,
// as the SDKs read it when they sign.
func parseQuery(raw string) ([]queryParam, error) {
	var params []queryParam
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		name, value, _ := strings.Cut(piece, "=")
		n, err1 := url.QueryUnescape(name)
		v, err2 := url.QueryUnescape(value)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("decode query parameter %q: %w", piece, ErrInvalidRequest)
		}
		params = append(params, queryParam{n, v})
	}
	return params, nil
}

// canonicalQuery returns the canonical query string of params: each name
// and value URI-encoded, sorted by name then value. X-Amz-Signature is left
// out when presigned.
func canonicalQuery(params []queryParam, presigned bool) string {
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if presigned && p.name == querySignature {
			continue
		}
		enc = append(enc, queryParam{uriEncode(p.name), uriEncode(p.value)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].name != enc[j].name {
			return enc[i].name < enc[j].name
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// canonicalURIs returns the canonical URI of r as AWS normalises it (each
// segment decoded then URI-encoded, '/' kept, no '.' or '//' folding) and
// the path exactly as the client encoded it on the wire. They differ when
// a client left characters such as '!' or '$' unencoded; a signature over
// either names the same key.
func canonicalURIs(r *http.Request) (normalized, wire string, err error) {
	wire = r.URL.EscapedPath()
	if wire == "" {
		wire = "/"
	}
	segs := strings.Split(wire, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", "", fmt.Errorf("decode path segment %q: %w", s, ErrInvalidRequest)
		}
		segs[i] = uriEncode(d)
	}
	return strings.Join(segs, "/"), wire, nil
}

// uriEncode percent-encodes every byte of s but the unreserved characters
// A-Z a-z 0-9 - _ . ~, with uppercase hex digits.
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// canonicalHeaders returns the canonical header block for the signed
// header names, each line "name:value\n".
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range signedHeaderValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// signedHeaderValues returns the values the client sent for header name,
// rebuilding those Go's server moves out of r.Header.
func signedHeaderValues(r *http.Request, name string) []string {
	if name == "host" {
		if r.Host != "" {
			return []string{r.Host}
		}
		return []string{r.URL.Host}
	}
	if v := r.Header.Values(name); len(v) > 0 {
		return v
	}
	switch name {
	case "content-length":
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	}
	for k, v := range r.Header {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// trimAll trims surrounding whitespace from v and collapses each run of
// spaces inside it into one.
func trimAll(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// canonicalRequest joins the parts of a canonical request.
func canonicalRequest(method, uri, query, headers, signedList, payload string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" + signedList + "\n" + payload
}

// stringToSign returns the string to sign for a canonical request.
func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return signingAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}
