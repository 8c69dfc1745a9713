package s3api

import (
	"mime"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"cairn/daemon/internal/apierr"
)

// TestMetaValue_Decode covers what a header value is stored as.
func TestMetaValue_Decode(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"plain", "plain"},
		{"", ""},
		{"=?UTF-8?Q?Hello_World=C3=A9?=", "Hello Worldé"},
		{"=?utf-8?b?SGVsbG8gV29ybGTDqQ==?=", "Hello Worldé"},
		{"=?ISO-8859-1?Q?caf=E9?=", "café"},
		{"=?US-ASCII?Q?abc?=", "abc"},
		{"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},        // the space between words goes
		{"x =?UTF-8?Q?a?= y", "x a y"},               // the text around them stays
		{"Hello World\xc3\xa9", "Hello Worldé"},      // raw UTF-8
		{"caf\xe9", "café"},                          // raw ISO-8859-1
		{"\xff\xfe", "ÿþ"},                           // not UTF-8: ISO-8859-1
		{"=?UTF-8?B?=GGG?=", "=?UTF-8?B?=GGG?="},     // does not decode: kept
		{"=?KOI8-R?Q?abc?=", "=?KOI8-R?Q?abc?="},     // unknown charset: kept
		{"=?UTF-8?B?/w==?=", "\uFFFD"},               // decodes to bytes that are not UTF-8
		{"=?UTF-8?Q?a", "=?UTF-8?Q?a"},               // unterminated
		{"=?UTF-8?B?AAECAw==?=", "\x00\x01\x02\x03"}, // control characters
		{"a=?b", "a=?b"},                             // no word at all
		{"=?UTF-8?Q?=E2=80=94?=\xe9", "—é"},          // a raw byte beside a word
	} {
		if got := decodeMetaValue(tc.raw); got != tc.want {
			t.Errorf("decodeMetaValue(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

// TestMetaValue_Encode covers how a stored value goes out: as AWS sends
// it, recorded against S3.
func TestMetaValue_Encode(t *testing.T) {
	for _, tc := range []struct{ v, want string }{
		{"abc", "abc"},
		{"a b\tc", "a b\tc"},
		{`!"#$%&'()*+,-./:;<=>?@[\]^_{|}~`, `!"#$%&'()*+,-./:;<=>?@[\]^_{|}~`},
		{"Hello Worldé", "=?UTF-8?Q?Hello_World=C3=A9?="},
		{"ÄMÄZÕÑ S3", "=?UTF-8?Q?=C3=84M=C3=84Z=C3=95=C3=91_S3?="},
		{"test_—_file%E2%80%94_é_2?.pdf", "=?UTF-8?Q?test=5F=E2=80=94=5Ffile%E2%80%94=5F=C3=A9=5F2=3F.pdf?="},
		{"\x00\x01\x02\x03", "=?UTF-8?B?AAECAw==?="},
		{"\uFFFDa\uFFFD", "=?UTF-8?B?77+9Ye+/vQ==?="},
		{" padded ", "=?UTF-8?Q?_padded_?="},                           // a header would lose the spaces
		{"=?UTF-8?Q?abc?=", "=?UTF-8?Q?=3D=3FUTF-8=3FQ=3Fabc=3F=3D?="}, // would read back as "abc"
		{"=?UTF-8?B?=GGG?=", "=?UTF-8?B?=GGG?="},                       // reads back as itself
	} {
		if got := encodeMetaValue(tc.v); got != tc.want {
			t.Errorf("encodeMetaValue(%q) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestUserMeta_Limit shows that the 2 KB limit counts names and values as
// stored, not as sent.
func TestUserMeta_Limit(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Meta-A", "=?UTF-8?B?"+strings.Repeat("YWJj", 682)+"?=") // 2,046 bytes stored, 2,740 sent
	if m, err := userMeta(h); err != nil || len(m["a"]) != 2046 {
		t.Fatalf("2,047 bytes stored: %v", err)
	}
	h.Set("X-Amz-Meta-Bc", "x") // 2,050
	_, err := userMeta(h)
	if e := apierr.Classify(err); e.Code != "MetadataTooLarge" || e.Status != 400 {
		t.Fatalf("2,050 bytes stored: %v", err)
	}
}

// FuzzMetaValue checks that any header value decodes to valid UTF-8,
// that what goes out is a header value every client carries unchanged
// (printable ASCII, no leading or trailing space), and that it decodes
// back to what was stored, so that a client that reads a value and writes
// it back stores the same.
func FuzzMetaValue(f *testing.F) {
	for _, s := range []string{
		"plain", "=?UTF-8?Q?Hello_World=C3=A9?=", "=?utf-8?b?SGVsbG8=?=", "caf\xe9", "Hello World\xc3\xa9",
		"=?UTF-8?B?AAECAw==?=", "=?UTF-8?Q?=3D=3FUTF-8=3FQ=3Fabc=3F=3D?=", "=?ISO-8859-1?Q?=E9?= =?UTF-8?Q?x?=",
		" =?UTF-8?Q?_x_?= ", "=?UTF-8?B?/w==?=", "\t", "=?=?", "?=",
	} {
		f.Add(s)
	}
	var dec mime.WordDecoder
	f.Fuzz(func(t *testing.T, raw string) {
		v := decodeMetaValue(raw)
		if !utf8.ValidString(v) {
			t.Fatalf("decodeMetaValue(%q) = %q, not UTF-8", raw, v)
		}
		out := encodeMetaValue(v)
		if !plainASCII(out) {
			t.Fatalf("encodeMetaValue(%q) = %q, not a plain header value", v, out)
		}
		if back := decodeMetaValue(out); back != v {
			t.Fatalf("stored %q goes out as %q, which reads back as %q", v, out, back)
		}
		if got, err := dec.DecodeHeader(out); err == nil && got != v && !strings.Contains(v, "=?") {
			t.Fatalf("stored %q goes out as %q, which Go's decoder reads as %q", v, out, got)
		}
	})
}
