package sigv4

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// chunkAuth returns the Auth of a request signed with the documentation's
// key and time, declaring payload kind.
func chunkAuth(kind PayloadKind) *Auth {
	c := credential{accessKey: docAccessKey, date: "20130524", region: "us-east-1", service: "s3"}
	return &Auth{AccessKey: docAccessKey, Payload: kind, Region: c.region, Time: docTime,
		signingKey: deriveSigningKey(docSecretKey, c), scope: c.scope(),
		amzDate: "20130524T000000Z", seed: strings.Repeat("5e", 32)}
}

// Trailer section styles seen from real encoders.
const (
	styleAWS   = iota // trailer lines end in CRLF, then the signature line, then CRLF
	styleMinio        // trailer lines end in LF, then a CRLF line (and one more when unsigned)
	styleBlank        // a blank line right after the final chunk header
)

// encodeChunked encodes data as an aws-chunked body for a, in chunks of
// size chunk, with the given trailing headers.
func encodeChunked(a *Auth, data []byte, chunk int, trailers []queryParam, style int) []byte {
	var b bytes.Buffer
	prev, signed := a.seed, a.Payload.signedChunks()
	header := func(piece []byte) {
		if !signed {
			fmt.Fprintf(&b, "%x\r\n", len(piece))
			return
		}
		sum := sha256.Sum256(piece)
		prev = a.sign(a.chunkStringToSign(prev, sum[:]))
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(piece), prev)
	}
	for rest := data; len(rest) > 0; {
		piece := rest[:min(chunk, len(rest))]
		rest = rest[len(piece):]
		header(piece)
		b.Write(piece)
		b.WriteString("\r\n")
	}
	header(nil)
	if !a.Payload.hasTrailer() {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var canonical strings.Builder
	end := "\r\n"
	if style == styleMinio {
		end = "\n"
	}
	if style == styleBlank {
		b.WriteString("\r\n")
	}
	for _, t := range trailers {
		b.WriteString(t.name + ":" + t.value + end)
		canonical.WriteString(t.name + ":" + t.value + "\n")
	}
	if style == styleMinio {
		b.WriteString("\r\n")
	}
	if signed {
		sum := sha256.Sum256([]byte(canonical.String()))
		fmt.Fprintf(&b, "%s:%s\r\n", trailerSignatureName, a.sign(a.trailerStringToSign(prev, sum[:])))
	}
	b.WriteString("\r\n")
	if style == styleMinio && !signed {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// chunkRequest returns a PUT carrying body for a, with declared length n
// (none if negative) and the checksum trailer alg (none if empty).
func chunkRequest(body []byte, n int64, alg string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "http://cairn.test/bucket/key", bytes.NewReader(body))
	r.Header.Set("Content-Encoding", "aws-chunked")
	if n >= 0 {
		r.Header.Set(headerDecodedContentLength, strconv.FormatInt(n, 10))
	}
	if alg != "" {
		r.Header.Set(headerTrailer, ChecksumHeader(alg))
	}
	return r
}

// decode reads the body of r for a to its end.
func decode(a *Auth, r *http.Request) ([]byte, *Body, error) {
	b, err := a.Body(r)
	if err != nil {
		return nil, nil, err
	}
	got, err := io.ReadAll(b)
	return got, b, err
}

// TestChunkedRoundTrip encodes payloads in every chunked mode, chunk size
// and trailer style, and decodes them back.
func TestChunkedRoundTrip(t *testing.T) {
	kinds := []PayloadKind{PayloadStreamingSigned, PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer}
	for _, kind := range kinds {
		for _, size := range []int{0, 1, 8191, 65536, 100003} {
			for _, chunk := range []int{1 << 10, 8 << 10, 64 << 10, 1 << 20} {
				for _, style := range []int{styleAWS, styleMinio, styleBlank} {
					if size > 8191 && chunk == 1<<10 || !kind.hasTrailer() && style != styleAWS {
						continue
					}
					name := fmt.Sprintf("%v/%d/%d/%d", kind, size, chunk, style)
					t.Run(name, func(t *testing.T) {
						a := chunkAuth(kind)
						data := bytes.Repeat([]byte(name), size/len(name)+1)[:size]
						alg, want := "", ""
						var trailers []queryParam
						if kind.hasTrailer() {
							alg = ChecksumCRC64NVME
							want, _ = ChecksumBase64(alg, data)
							trailers = []queryParam{{ChecksumHeader(alg), want}}
						}
						got, b, err := decode(a, chunkRequest(encodeChunked(a, data, chunk, trailers, style), int64(size), alg))
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, data) {
							t.Fatalf("decoded %d bytes, want %d", len(got), len(data))
						}
						if alg != "" && b.Checksums()[alg] != want {
							t.Fatalf("checksums %v, want %s", b.Checksums(), want)
						}
					})
				}
			}
		}
	}
}

// TestChunkedMalformed feeds broken framing to the decoder; each must fail
// with the sentinel S3 would answer with, never with io.EOF.
func TestChunkedMalformed(t *testing.T) {
	signed, unsigned := chunkAuth(PayloadStreamingSigned), chunkAuth(PayloadStreamingUnsignedTrailer)
	sigTrailer := chunkAuth(PayloadStreamingSignedTrailer)
	data := []byte("hello, chunks")
	crc, _ := ChecksumBase64(ChecksumCRC32, data)
	good := string(encodeChunked(signed, data, 5, nil, styleAWS))
	goodU := string(encodeChunked(unsigned, data, 5, []queryParam{{"x-amz-checksum-crc32", crc}}, styleAWS))
	goodST := string(encodeChunked(sigTrailer, data, 5, []queryParam{{"x-amz-checksum-crc32", crc}}, styleAWS))
	cases := []struct {
		name     string
		a        *Auth
		body     string
		declared int64
		alg      string
		want     error
	}{
		{"empty body", signed, "", -1, "", ErrIncompleteBody},
		{"header line too long", unsigned, "1;" + strings.Repeat("x", maxLineLength) + "\r\n", -1, "", ErrInvalidRequest},
		{"size not hex", unsigned, "zz\r\n", -1, "", ErrInvalidRequest},
		{"size empty", unsigned, "\r\n", -1, "", ErrInvalidRequest},
		{"size signed", unsigned, "+5\r\nhello\r\n0\r\n\r\n", -1, "", ErrInvalidRequest},
		{"size 17 digits", unsigned, "00000000000000005\r\nhello\r\n0\r\n\r\n", -1, "", ErrInvalidRequest},
		{"size over 5 GiB", unsigned, "140000001\r\n", -1, "", ErrInvalidRequest},
		{"size over declared", unsigned, "6\r\nhello!\r\n0\r\n\r\n", 5, "", ErrInvalidRequest},
		{"shorter than declared", unsigned, "5\r\nhello\r\n0\r\n\r\n", 6, "", ErrIncompleteBody},
		{"data longer than size", unsigned, "4\r\nhello\r\n0\r\n\r\n", -1, "", ErrInvalidRequest},
		{"data cut", unsigned, "5\r\nhel", -1, "", ErrIncompleteBody},
		{"LF header", unsigned, "5\nhello\r\n0\r\n\r\n", -1, "", ErrInvalidRequest},
		{"extension on unsigned", unsigned, "5;chunk-signature=" + strings.Repeat("0", 64) + "\r\nhello\r\n0\r\n\r\n", -1, "", ErrInvalidRequest},
		{"no final chunk", unsigned, "5\r\nhello\r\n", -1, "", ErrIncompleteBody},
		{"trailer not declared", unsigned, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + crc + "\r\n\r\n", -1, "", ErrInvalidRequest},
		{"declared trailer missing", unsigned, "5\r\nhello\r\n0\r\n\r\n", -1, ChecksumCRC32, ErrInvalidRequest},
		{"trailer value wrong", unsigned, strings.Replace(goodU, crc, "AAAAAA==", 1), -1, ChecksumCRC32, ErrBadDigest},
		{"trailer value malformed", unsigned, strings.Replace(goodU, crc, "AAAA", 1), -1, ChecksumCRC32, ErrInvalidRequest},
		{"trailer without colon", unsigned, "0\r\nx-amz-checksum-crc32\r\n\r\n", -1, ChecksumCRC32, ErrInvalidRequest},
		{"trailer signature when unsigned", unsigned, "0\r\n" + trailerSignatureName + ":" + strings.Repeat("0", 64) + "\r\n\r\n", -1, "", ErrInvalidRequest},
		{"too many blank lines", unsigned, "0\r\n" + strings.Repeat("\r\n", maxTrailerLines), -1, ChecksumCRC32, ErrInvalidRequest},
		{"garbage after end", unsigned, goodU + "x", int64(len(data)), ChecksumCRC32, ErrInvalidRequest},
		{"many CRLFs after end", unsigned, goodU + strings.Repeat("\r\n", 5), int64(len(data)), ChecksumCRC32, ErrInvalidRequest},
		{"signature missing", signed, "5\r\nhello\r\n", -1, "", ErrInvalidRequest},
		{"signature uppercase", signed, strings.ToUpper(good[:90]) + good[90:], -1, "", ErrInvalidRequest},
		{"signature short", signed, "5;chunk-signature=abc\r\nhello\r\n", -1, "", ErrInvalidRequest},
		{"data changed", signed, strings.Replace(good, "hello", "jello", 1), -1, "", ErrSignatureDoesNotMatch},
		{"final chunk dropped", signed, good[:strings.LastIndex(good, "0;chunk")], -1, "", ErrIncompleteBody},
		{"trailer in non-trailer mode", signed, strings.TrimSuffix(good, "\r\n") + "x-amz-checksum-crc32:" + crc + "\r\n\r\n", -1, "", ErrInvalidRequest},
		{"signed trailer unsigned", sigTrailer, goodST[:strings.Index(goodST, trailerSignatureName)] + "\r\n", -1, ChecksumCRC32, ErrInvalidRequest},
		{"signed trailer changed", sigTrailer, strings.Replace(goodST, crc, "AAAAAA==", 1), -1, ChecksumCRC32, ErrSignatureDoesNotMatch},
		{"line after trailer signature", sigTrailer, strings.TrimSuffix(goodST, "\r\n") + "x-amz-meta-a:b\r\n\r\n", -1, ChecksumCRC32, ErrInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := chunkRequest([]byte(c.body), c.declared, c.alg)
			got, b, err := decode(c.a, r)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.declared >= 0 && int64(len(got)) > c.declared {
				t.Fatalf("passed on %d bytes, more than the %d declared", len(got), c.declared)
			}
			if b != nil {
				if n, again := b.Read(make([]byte, 8)); n != 0 || again != err {
					t.Fatalf("second Read = %d, %v; want the same error", n, again)
				}
				if b.MD5() != nil || len(b.Checksums()) != 0 {
					t.Fatal("MD5 or Checksums set after a failure")
				}
			}
		})
	}
}
