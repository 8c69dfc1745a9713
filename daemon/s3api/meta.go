package s3api

import (
	"encoding/base64"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
)

// User metadata (x-amz-meta-*) is stored as UTF-8 and travels as S3 sends
// it: a value of printable ASCII goes out as it is, any other as one RFC
// 2047 encoded-word, and an encoded-word that comes in is decoded before
// it is stored. A client that sends "=?UTF-8?Q?Hello_World=C3=A9?=" and
// one that sends the UTF-8 bytes of "Hello Worldé" store the same value,
// and both read back the encoded-word, which email.header (Python) or
// mime.WordDecoder (Go) decode.

// maxUserMeta bounds the x-amz-meta-* headers of an object, names and
// values together as stored, as S3 does.
const maxUserMeta = 2 << 10

// userMeta reads the x-amz-meta-* headers of a request into the form they
// are stored in (see decodeMetaValue) and checks their size.
func userMeta(h http.Header) (map[string]string, error) {
	m := httpx.UserMeta(h, "X-Amz-Meta-")
	n := 0
	for k, v := range m {
		m[k] = decodeMetaValue(v)
		n += len(k) + len(m[k])
	}
	if n > maxUserMeta {
		return m, apierr.BadRequest("MetadataTooLarge", "your metadata headers exceed the maximum allowed metadata size: %d bytes, over the %d allowed", n, maxUserMeta)
	}
	return m, nil
}

// metaDecoder decodes the charsets of RFC 2047 encoded-words that Go
// knows: UTF-8, ISO-8859-1 and US-ASCII. A value holding a word of any
// other charset is stored as it came.
var metaDecoder mime.WordDecoder

// decodeMetaValue returns the stored form of a header value: its bytes
// read as UTF-8 when they are valid UTF-8 and as ISO-8859-1 otherwise
// (AWS reads them as ISO-8859-1 always, which turns raw UTF-8 into
// mojibake), then every RFC 2047 encoded-word (B or Q) decoded. A word that
// does not decode stays as it came; bytes a word decodes to that are not
// UTF-8 become U+FFFD. The result is valid UTF-8.
func decodeMetaValue(raw string) string {
	v := raw
	if !utf8.ValidString(v) {
		r := make([]rune, len(raw))
		for i := 0; i < len(raw); i++ {
			r[i] = rune(raw[i]) // ISO-8859-1 is the first 256 code points
		}
		v = string(r)
	}
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := metaDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return strings.ToValidUTF8(d, "\uFFFD")
}

// encodeMetaValue returns how a stored value goes out, as S3 sends it: as
// it is when it is printable ASCII (space and tab included) that a client
// decoding RFC 2047 reads back the same, else one encoded-word: B (base64)
// when it holds control characters or U+FFFD, Q otherwise.
func encodeMetaValue(v string) string {
	if plainASCII(v) && decodeMetaValue(v) == v {
		return v
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f || r == utf8.RuneError }) {
		return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString("=?UTF-8?Q?")
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == ' ':
			b.WriteByte('_')
		case c > ' ' && c < 0x7f && c != '=' && c != '?' && c != '_':
			b.WriteByte(c)
		default:
			b.WriteByte('=')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	b.WriteString("?=")
	return b.String()
}

// plainASCII reports whether v is printable ASCII, space and tab
// included, that an HTTP header carries unchanged: nothing the parser
// would trim at either end.
func plainASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' || c > '~') && c != '\t' {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}
