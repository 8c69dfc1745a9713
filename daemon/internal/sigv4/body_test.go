package sigv4

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cairn/daemon/internal/hashpipe"
)

// TestBodyChecks reads plain and chunked bodies under every combination
// of digest headers that S3 accepts or refuses.
func TestBodyChecks(t *testing.T) {
	const content = "the quick brown fox"
	sha := sha256.Sum256([]byte(content))
	sum := md5.Sum([]byte(content))
	goodMD5, badMD5 := base64.StdEncoding.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(make([]byte, 16))
	crc32c, _ := ChecksumBase64(ChecksumCRC32C, []byte(content))
	sha1sum, _ := ChecksumBase64(ChecksumSHA1, []byte(content))
	signed := &Auth{Payload: PayloadSHA256, PayloadSHA256: hex.EncodeToString(sha[:])}
	unsigned := &Auth{Payload: PayloadUnsigned}
	cases := []struct {
		name    string
		a       *Auth
		body    string
		headers map[string]string
		want    error
		sums    map[string]string
		length  int64 // Content-Length when not the body's
	}{
		{"signed", signed, content, nil, nil, nil, 0},
		{"signed with md5", signed, content, map[string]string{"Content-Md5": goodMD5}, nil, nil, 0},
		{"signed body changed", signed, "the quick brown fix", nil, ErrContentSHA256Mismatch, nil, 0},
		{"sha256 checked before md5", signed, "the quick brown fix", map[string]string{"Content-Md5": badMD5}, ErrContentSHA256Mismatch, nil, 0},
		{"md5 mismatch", unsigned, content, map[string]string{"Content-Md5": badMD5}, ErrBadDigest, nil, 0},
		{"md5 not base64", unsigned, content, map[string]string{"Content-Md5": "!!"}, ErrInvalidDigest, nil, 0},
		{"md5 wrong length", unsigned, content, map[string]string{"Content-Md5": "AAAA"}, ErrInvalidDigest, nil, 0},
		{"checksum header", unsigned, content, map[string]string{"X-Amz-Checksum-Crc32c": crc32c}, nil, map[string]string{ChecksumCRC32C: crc32c}, 0},
		{"checksum with sdk algorithm", unsigned, content, map[string]string{"X-Amz-Checksum-Sha1": sha1sum, "X-Amz-Sdk-Checksum-Algorithm": "sha1"}, nil, map[string]string{ChecksumSHA1: sha1sum}, 0},
		{"checksum of the wrong size", unsigned, content, map[string]string{"X-Amz-Checksum-Sha1": crc32c}, ErrInvalidRequest, nil, 0},
		{"checksum wrong value", unsigned, "other", map[string]string{"X-Amz-Checksum-Crc32c": crc32c}, ErrBadDigest, nil, 0},
		{"md5 checked before checksum", unsigned, "other", map[string]string{"X-Amz-Checksum-Crc32c": crc32c, "Content-Md5": goodMD5}, ErrBadDigest, nil, 0},
		{"checksum malformed", unsigned, content, map[string]string{"X-Amz-Checksum-Crc32c": "nope"}, ErrInvalidRequest, nil, 0},
		{"checksum unsupported", unsigned, content, map[string]string{"X-Amz-Checksum-Xxhash64": "AAAAAAAAAAA="}, ErrInvalidRequest, nil, 0},
		{"two checksums", unsigned, content, map[string]string{"X-Amz-Checksum-Crc32c": crc32c, "X-Amz-Checksum-Sha1": sha1sum}, ErrInvalidRequest, nil, 0},
		{"checksum mode and type ignored", unsigned, content, map[string]string{"X-Amz-Checksum-Mode": "ENABLED", "X-Amz-Checksum-Type": "FULL_OBJECT", "X-Amz-Checksum-Algorithm": "CRC32"}, nil, nil, 0},
		{"sdk algorithm alone", unsigned, content, map[string]string{"X-Amz-Sdk-Checksum-Algorithm": "CRC32"}, ErrInvalidRequest, nil, 0},
		{"sdk algorithm differs", unsigned, content, map[string]string{"X-Amz-Checksum-Crc32c": crc32c, "X-Amz-Sdk-Checksum-Algorithm": "CRC32"}, ErrInvalidRequest, nil, 0},
		{"trailer on plain body", unsigned, content, map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32c"}, ErrInvalidRequest, nil, 0},
		{"aws-chunked on plain payload", signed, content, map[string]string{"Content-Encoding": "aws-chunked"}, ErrInvalidRequest, nil, 0},
		{"short body", unsigned, content, nil, ErrIncompleteBody, nil, 30},
		{"long body", unsigned, content, nil, ErrInvalidRequest, nil, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "http://cairn.test/bucket/key", strings.NewReader(c.body))
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			if c.length != 0 {
				r.ContentLength = c.length
			}
			got, b, err := decode(c.a, r)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if err != nil {
				return
			}
			if string(got) != c.body || hex.EncodeToString(b.MD5()) != hex.EncodeToString(md5Of(c.body)) {
				t.Fatalf("body %q md5 %x", got, b.MD5())
			}
			if sums := b.Checksums(); len(sums) != len(c.sums) || sums[firstKey(c.sums)] != c.sums[firstKey(c.sums)] {
				t.Fatalf("checksums %v, want %v", sums, c.sums)
			}
		})
	}
}

func md5Of(s string) []byte { m := md5.Sum([]byte(s)); return m[:] }

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// TestBodyContentEncoding checks that aws-chunked is removed from the
// stored Content-Encoding wherever it appears.
func TestBodyContentEncoding(t *testing.T) {
	a := chunkAuth(PayloadStreamingUnsignedTrailer)
	cases := []struct {
		values []string
		want   string
	}{
		{[]string{"aws-chunked"}, ""},
		{[]string{"aws-chunked,gzip"}, "gzip"},
		{[]string{"gzip, aws-chunked"}, "gzip"},
		{[]string{"gzip", "AWS-Chunked", "br"}, "gzip,br"},
		{nil, ""},
	}
	for _, c := range cases {
		r := chunkRequest(encodeChunked(a, []byte("x"), 1, nil, styleAWS), 1, "")
		r.Header["Content-Encoding"] = c.values
		got, b, err := decode(a, r)
		if err != nil || string(got) != "x" || b.ContentEncoding() != c.want {
			t.Errorf("%q: body %q encoding %q err %v, want %q", c.values, got, b.ContentEncoding(), err, c.want)
		}
	}
}

// TestBodyStateBeforeEOF checks that MD5 and Checksums stay empty until
// the payload has verified, and that the expected length is reported.
func TestBodyStateBeforeEOF(t *testing.T) {
	a := chunkAuth(PayloadStreamingSigned)
	r := chunkRequest(encodeChunked(a, []byte("0123456789"), 4, nil, styleAWS), 10, "")
	b, err := a.Body(r)
	if err != nil {
		t.Fatal(err)
	}
	if b.ExpectedLength() != 10 {
		t.Fatalf("ExpectedLength = %d", b.ExpectedLength())
	}
	buf := make([]byte, 4)
	if n, err := b.Read(buf); n != 4 || err != nil || b.MD5() != nil {
		t.Fatalf("first Read = %d, %v; MD5 %x", n, err, b.MD5())
	}
	if rest, err := io.ReadAll(b); err != nil || string(rest) != "456789" || len(b.MD5()) != md5.Size {
		t.Fatalf("rest %q, %v, MD5 %x", rest, err, b.MD5())
	}
	if n, err := b.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v", n, err)
	}
}

// TestChunkedPassThrough checks that data reaches the caller before its
// chunk signature is checked, in reads no larger than asked, and that
// the failure comes before any byte of the next chunk.
func TestChunkedPassThrough(t *testing.T) {
	a := chunkAuth(PayloadStreamingSigned)
	data := make([]byte, 3*8192)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	body := encodeChunked(a, data, 8192, nil, styleAWS)
	i := bytes.Index(body, data[100:140])
	body[i] ^= 1 // corrupt the first chunk
	b, err := a.Body(chunkRequest(body, int64(len(data)), ""))
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 1000)
	for {
		n, err := b.Read(buf)
		if n > len(buf) {
			t.Fatalf("Read returned %d bytes into %d", n, len(buf))
		}
		got = append(got, buf[:n]...)
		if err != nil {
			if !errors.Is(err, ErrSignatureDoesNotMatch) {
				t.Fatalf("err = %v", err)
			}
			break
		}
	}
	if len(got) != 8192 {
		t.Fatalf("passed %d bytes before the error, want exactly the first chunk's 8192", len(got))
	}
}

// TestBodyLargeHashedAside reads bodies long enough that their hashes run
// on the body's own goroutine (past hashpipe.Inline), in reads of awkward sizes:
// every check still sees every byte, in order.
func TestBodyLargeHashedAside(t *testing.T) {
	content := make([]byte, hashpipe.Inline+3*256<<10+12345)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	sha := sha256.Sum256(content)
	sum := md5.Sum(content)
	crc, _ := ChecksumBase64(ChecksumCRC32, content)
	changed := bytes.Clone(content)
	changed[len(changed)-100<<10] ^= 1 // in the last blocks, hashed aside
	signed := &Auth{Payload: PayloadSHA256, PayloadSHA256: hex.EncodeToString(sha[:])}
	unsigned := &Auth{Payload: PayloadUnsigned}
	md5Header := map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(sum[:])}
	cases := []struct {
		name    string
		a       *Auth
		body    []byte
		headers map[string]string
		want    error
	}{
		{"signed", signed, content, md5Header, nil},
		{"signed body changed", signed, changed, nil, ErrContentSHA256Mismatch},
		{"md5 mismatch", unsigned, changed, md5Header, ErrBadDigest},
		{"checksum", unsigned, content, map[string]string{"X-Amz-Checksum-Crc32": crc}, nil},
		{"checksum mismatch", unsigned, changed, map[string]string{"X-Amz-Checksum-Crc32": crc}, ErrBadDigest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "http://cairn.test/bucket/key", bytes.NewReader(c.body))
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			b, err := c.a.Body(r)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			buf := make([]byte, 70001) // not a multiple of the pipe's blocks
			for {
				n, err := b.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					if !errors.Is(err, c.want) || c.want == nil {
						t.Fatalf("err = %v, want %v", err, c.want)
					}
					return
				}
			}
			if c.want != nil {
				t.Fatalf("read to the end, want %v", c.want)
			}
			if !b.pipe.Aside() {
				t.Fatal("the body was hashed inline")
			}
			if !bytes.Equal(got, content) || !bytes.Equal(b.MD5(), sum[:]) {
				t.Fatalf("read %d bytes, md5 %x", len(got), b.MD5())
			}
		})
	}
}

// TestBodyCloseEarly stops reading a large body halfway: Close returns
// once the hashing goroutine has stopped, and the body never reports a
// clean end.
func TestBodyCloseEarly(t *testing.T) {
	content := bytes.Repeat([]byte("booster "), (hashpipe.Inline+4*256<<10)/8)
	r := httptest.NewRequest(http.MethodPut, "http://cairn.test/bucket/key", bytes.NewReader(content))
	b, err := (&Auth{Payload: PayloadUnsigned}).Body(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(b, make([]byte, hashpipe.Inline+256<<10+1)); err != nil {
		t.Fatal(err)
	}
	if !b.pipe.Aside() {
		t.Fatal("the body was hashed inline")
	}
	b.Close()
	b.Close() // twice is harmless
	if b.MD5() != nil {
		t.Fatal("an unfinished body has an MD5")
	}
	if _, err := b.Read(make([]byte, 10)); !errors.Is(err, ErrIncompleteBody) {
		t.Fatalf("read after Close: %v", err)
	}
}
