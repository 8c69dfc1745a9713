package sigv4

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// fuzzData is the payload of the signed seeds of FuzzChunkedDecode.
const fuzzData = "hello, world"

// FuzzChunkedDecode feeds arbitrary bodies to the aws-chunked decoder in
// each mode. It must not panic, must never pass on more bytes than the
// body holds or than were declared, and must fail with a package sentinel
// or end cleanly. Since HMAC cannot be forged, a signed body can only end
// cleanly if it carries the seeds' signatures, so its payload must be the
// seeds' payload.
func FuzzChunkedDecode(f *testing.F) {
	for _, kind := range []PayloadKind{PayloadStreamingSigned, PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer} {
		a := chunkAuth(kind)
		var tr []queryParam
		if kind.hasTrailer() {
			v, _ := ChecksumBase64(ChecksumCRC32, []byte(fuzzData))
			tr = []queryParam{{ChecksumHeader(ChecksumCRC32), v}}
		}
		for _, style := range []int{styleAWS, styleMinio, styleBlank} {
			f.Add(uint8(kind-PayloadStreamingSigned), encodeChunked(a, []byte(fuzzData), 5, tr, style), int64(len(fuzzData)))
		}
	}
	f.Add(uint8(2), []byte("5\r\nhello\r\n0\r\n\r\n"), int64(-1))
	f.Add(uint8(0), []byte("ffffffffffffffff;chunk-signature=00\r\n"), int64(-1))
	f.Fuzz(func(t *testing.T, kind uint8, body []byte, declared int64) {
		k := PayloadKind(kind%3) + PayloadStreamingSigned
		alg := ""
		if k.hasTrailer() {
			alg = ChecksumCRC32
		}
		got, _, err := decode(chunkAuth(k), chunkRequest(body, declared, alg))
		if len(got) > len(body) || (declared >= 0 && int64(len(got)) > declared) {
			t.Fatalf("passed on %d bytes of a %d-byte body, %d declared", len(got), len(body), declared)
		}
		if err != nil && !isSentinel(err) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if err == nil && k.signedChunks() && string(got) != fuzzData {
			t.Fatalf("signed body accepted with payload %q", got)
		}
	})
}

// FuzzChunkedRoundTrip encodes arbitrary payloads in arbitrary chunk
// sizes, modes and trailer styles and checks that they decode back.
func FuzzChunkedRoundTrip(f *testing.F) {
	f.Add([]byte(fuzzData), uint16(5), uint8(0), uint8(0))
	f.Add([]byte{}, uint16(1), uint8(1), uint8(1))
	f.Add(bytes.Repeat([]byte{0, '\r', '\n'}, 1000), uint16(7), uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, kind, style uint8) {
		k := PayloadKind(kind%3) + PayloadStreamingSigned
		a := chunkAuth(k)
		alg := ""
		var tr []queryParam
		if k.hasTrailer() {
			alg = ChecksumAlgorithms()[int(style)%5]
			v, _ := ChecksumBase64(alg, data)
			tr = []queryParam{{ChecksumHeader(alg), v}}
		}
		size := int(chunk) + 1
		if len(data)/size > 256 { // keep each run fast: at most ~256 signed chunks
			size = len(data)/256 + 1
		}
		body := encodeChunked(a, data, size, tr, int(style)%3)
		got, b, err := decode(a, chunkRequest(body, int64(len(data)), alg))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("decoded %d bytes of %d: %v", len(got), len(data), err)
		}
		if alg != "" && b.Checksums()[alg] != tr[0].value {
			t.Fatalf("checksums %v, want %s", b.Checksums(), tr[0].value)
		}
	})
}

// isSentinel reports whether err wraps one of the package's sentinels.
func isSentinel(err error) bool {
	for _, s := range []error{ErrSignatureDoesNotMatch, ErrInvalidAccessKeyID, ErrAccessDenied, ErrRequestTimeTooSkewed,
		ErrAuthorizationHeaderMalformed, ErrAuthorizationQueryParametersError, ErrContentSHA256Mismatch, ErrBadDigest,
		ErrInvalidDigest, ErrIncompleteBody, ErrInvalidRequest, ErrNotImplemented} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzParseAuthorization feeds arbitrary Authorization headers to the
// parser. It must not panic, must fail with a sentinel, and what it
// accepts must keep its invariants and print back to a header that parses
// to the same claim.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(docGet().Header.Get("Authorization"))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/20130524/r/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=" + strings.Repeat("0", 64))
	f.Add("AWS AKID:sig")
	f.Add("AWS4-HMAC-SHA256 Credential=,,,=")
	f.Fuzz(func(t *testing.T, h string) {
		c, err := parseAuthorization(h)
		if err != nil {
			if !errors.Is(err, ErrAuthorizationHeaderMalformed) && !errors.Is(err, ErrNotImplemented) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if !slices.IsSorted(c.signed) || !slices.Contains(c.signed, "host") || !isLowerHex(c.signature, 64) ||
			c.cred.accessKey == "" || c.signedList != strings.Join(c.signed, ";") {
			t.Fatalf("accepted claim %+v breaks its invariants", c)
		}
		again, err := parseAuthorization(signingAlgorithm + " Credential=" + c.cred.accessKey + "/" + c.cred.scope() +
			", SignedHeaders=" + c.signedList + ", Signature=" + c.signature)
		if err != nil || again.cred != c.cred || !slices.Equal(again.signed, c.signed) || again.signature != c.signature {
			t.Fatalf("round trip of %+v: %+v, %v", c, again, err)
		}
	})
}
