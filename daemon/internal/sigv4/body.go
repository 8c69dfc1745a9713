package sigv4

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"cairn/daemon/internal/hashpipe"
)

// Body is the decoded payload of a request: the body with any aws-chunked
// framing removed. Read returns an error instead of io.EOF if any check
// fails, so a caller that commits only on a clean io.EOF never commits a
// payload that does not verify. A Body is not safe for concurrent use.
type Body struct {
	src      io.Reader
	chunks   *chunkReader // nil unless aws-chunked
	expected int64        // decoded length declared, or -1
	n        int64
	encoding string

	md5     hash.Hash
	sha     hash.Hash // nil unless a SHA-256 was declared
	wantSHA []byte
	wantMD5 []byte // nil unless Content-MD5 was sent

	alg         string    // declared checksum algorithm, or ""
	sum         hash.Hash // computes alg
	wantSum     []byte    // from the header; nil when it comes as a trailer
	fromTrailer bool

	pipe *hashpipe.Writer // feeds the hashes, set by the first Read

	err       error
	done      bool
	md5Sum    []byte
	checksums map[string]string
}

// Body returns the decoded payload of r, the request Verify authenticated
// as a; it reads r.Body. It checks the headers that describe the body
// (Content-MD5, x-amz-checksum-*, x-amz-sdk-checksum-algorithm,
// x-amz-trailer, x-amz-decoded-content-length, Content-Encoding) at once,
// before reading anything. The checks on the content come as Read gets
// there, in this order: each chunk and trailer signature of an aws-chunked
// body as its data ends, then the length, the declared SHA-256 of a plain
// body, Content-MD5 and the checksum. The error wraps one of the package's
// sentinels.
func (a *Auth) Body(r *http.Request) (*Body, error) {
	b := &Body{src: r.Body, expected: r.ContentLength, md5: md5.New()}
	if b.src == nil {
		b.src = http.NoBody
	}
	enc, chunked := splitEncoding(r.Header.Values("Content-Encoding"))
	if chunked && !a.Payload.Chunked() {
		return nil, fmt.Errorf("read body: aws-chunked with %s %s: %w", headerContentSHA256, a.Payload, ErrInvalidRequest)
	}
	b.encoding = enc
	if a.Payload == PayloadSHA256 {
		b.sha = sha256.New()
		b.wantSHA, _ = hex.DecodeString(a.PayloadSHA256)
	}
	if err := b.readContentMD5(r); err != nil {
		return nil, err
	}
	trailers, err := b.readChecksumHeaders(r, a.Payload.hasTrailer())
	if err != nil {
		return nil, err
	}
	if a.Payload.Chunked() {
		b.expected = -1
		if v := r.Header.Get(headerDecodedContentLength); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || v[0] == '+' {
				return nil, fmt.Errorf("parse %s %.32q: %w", headerDecodedContentLength, v, ErrInvalidRequest)
			}
			b.expected = n
		}
		b.chunks = newChunkReader(b.src, a, trailers, b.expected)
		b.src = b.chunks
	}
	return b, nil
}

// splitEncoding removes aws-chunked from Content-Encoding values and
// reports whether it was there.
func splitEncoding(values []string) (string, bool) {
	var rest []string
	chunked := false
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			switch e = strings.TrimSpace(e); {
			case strings.EqualFold(e, awsChunkedEncoding):
				chunked = true
			case e != "":
				rest = append(rest, e)
			}
		}
	}
	return strings.Join(rest, ","), chunked
}

// readContentMD5 decodes the Content-MD5 header, if any.
func (b *Body) readContentMD5(r *http.Request) error {
	v := r.Header.Values("Content-Md5")
	if len(v) == 0 {
		return nil
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[0]))
	if len(v) > 1 || err != nil || len(sum) != md5.Size {
		return fmt.Errorf("decode Content-MD5 %.40q: %w", v[0], ErrInvalidDigest)
	}
	b.wantMD5 = sum
	return nil
}

// ContentEncoding returns the request's Content-Encoding with aws-chunked
// removed: the encoding of the stored object, often empty.
func (b *Body) ContentEncoding() string { return b.encoding }

// ExpectedLength returns the length of the decoded payload the request
// declared (x-amz-decoded-content-length for aws-chunked bodies, else
// Content-Length), or -1 if it declared none. Read enforces it.
func (b *Body) ExpectedLength() int64 { return b.expected }

// Read implements io.Reader. At the end of the payload it returns io.EOF
// only if every check passed, and otherwise an error wrapping one of the
// package's sentinels; after an error every call returns it again.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	n, err := b.src.Read(p)
	if n > 0 {
		b.n += int64(n)
		b.hash(p[:n])
	}
	switch {
	case err == io.EOF:
		b.Close() // the hashes have seen every byte
		if b.err = b.finish(); b.err != nil {
			return n, b.err
		}
		b.done = true
		return n, io.EOF
	case err != nil:
		b.Close()
		b.err = readError("read body", err)
		return n, b.err
	}
	return n, nil
}

// hash feeds p to the body's hashes; past the first hashpipe.Inline
// bytes they run on a goroutine of their own, beside the reader's work.
func (b *Body) hash(p []byte) {
	if b.pipe == nil {
		b.pipe = hashpipe.New(hashesOf{b})
	}
	b.pipe.Write(p)
}

// hashesOf writes to a body's hashes.
type hashesOf struct{ b *Body }

func (h hashesOf) Write(p []byte) (int, error) { h.b.hashInline(p); return len(p), nil }

func (b *Body) hashInline(p []byte) {
	b.md5.Write(p)
	if b.sha != nil {
		b.sha.Write(p)
	}
	if b.sum != nil {
		b.sum.Write(p)
	}
}

// Close stops the body's hashing goroutine, if it has one, once it has
// hashed what Read returned. Read calls it at the end of the payload and
// on an error; a caller that stops reading early must call it, and reads
// after that fail. It does not close the request's body.
func (b *Body) Close() error {
	if !b.done && b.err == nil {
		b.err = fmt.Errorf("read body: closed after %d bytes: %w", b.n, ErrIncompleteBody)
	}
	if b.pipe != nil {
		b.pipe.Close()
	}
	return nil
}

// finish runs the checks due at the end of the payload.
func (b *Body) finish() error {
	if b.expected >= 0 && b.n < b.expected {
		return fmt.Errorf("read body: %d of %d declared bytes: %w", b.n, b.expected, ErrIncompleteBody)
	}
	if b.expected >= 0 && b.n > b.expected {
		return fmt.Errorf("read body: more than %d declared bytes: %w", b.expected, ErrInvalidRequest)
	}
	if b.sha != nil && !bytes.Equal(b.sha.Sum(nil), b.wantSHA) {
		return fmt.Errorf("check payload: %w", ErrContentSHA256Mismatch)
	}
	md5Sum := b.md5.Sum(nil)
	if b.wantMD5 != nil && !bytes.Equal(md5Sum, b.wantMD5) {
		return fmt.Errorf("check Content-MD5: %w", ErrBadDigest)
	}
	if err := b.checkChecksum(); err != nil {
		return err
	}
	b.md5Sum = md5Sum
	return nil
}

// MD5 returns the MD5 of the decoded payload once Read has returned
// io.EOF, and nil before. S3 uses it as the ETag of a single-part object.
func (b *Body) MD5() []byte {
	return bytes.Clone(b.md5Sum)
}

// Checksums returns the checksums of the decoded payload that the request
// declared and that verified, by canonical algorithm name, each in base64,
// once Read has returned io.EOF. Before that, or when none was declared,
// it returns an empty map.
func (b *Body) Checksums() map[string]string {
	m := make(map[string]string, len(b.checksums))
	for k, v := range b.checksums {
		m[k] = v
	}
	return m
}
