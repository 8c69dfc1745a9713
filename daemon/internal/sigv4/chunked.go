package sigv4

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// Bounds on what a client may claim in aws-chunked framing. A chunk may be
// as large as a single S3 PUT (aws-sdk-go-v2 sends a body of known length as
// one chunk); its data is passed on, never buffered.
const (
	maxChunkSize         int64 = 5 << 30
	maxLineLength              = 4 << 10
	maxTrailerLines            = 16
	trailerSignatureName       = "x-amz-trailer-signature"
)

// chunkState is where a chunkReader is in the aws-chunked grammar.
type chunkState uint8

const (
	stateHeader  chunkState = iota // before a chunk header line
	stateData                      // inside a chunk's data
	stateDataEnd                   // before the CRLF that ends a chunk's data
	stateTrailer                   // after the final chunk's header
	stateDone                      // the body ended cleanly
)

// chunkReader decodes an aws-chunked body:
//
//	chunk   = hex-size [ ";chunk-signature=" sig ] CRLF data CRLF
//	final   = "0" [ ";chunk-signature=" sig ] CRLF
//	trailer = *( name ":" value CRLF ) [ "x-amz-trailer-signature:" sig CRLF ] CRLF
//
// Read returns the data of the chunks as it arrives and checks each chunk
// signature when its data ends, so bytes reach the caller before their
// signature is verified; it returns io.EOF only once every signature, the
// declared length and the framing up to the end of the body have checked
// out. A chunkReader is not safe for concurrent use.
type chunkReader struct {
	br       *bufio.Reader
	auth     *Auth  // signs the chunks; nil when they are unsigned
	trailers bool   // trailing headers may follow the final chunk
	want     int    // how many trailing headers were declared
	prev     string // the previous signature, the seed at first
	declared int64  // x-amz-decoded-content-length, or -1
	decoded  int64  // data bytes returned so far
	left     int64  // data bytes left in the current chunk
	claimed  string // the signature the current chunk claims
	sum      hash.Hash
	chunks   int // chunk headers read, for error messages
	state    chunkState
	trailer  []queryParam // trailing headers, in order received
	err      error
}

// newChunkReader returns a decoder of the aws-chunked body r for a request
// authenticated by a. want is the number of trailing headers declared in
// x-amz-trailer; declared is x-amz-decoded-content-length or -1.
func newChunkReader(r io.Reader, a *Auth, want int, declared int64) *chunkReader {
	c := &chunkReader{
		br:       bufio.NewReaderSize(r, 64<<10),
		trailers: a.Payload.hasTrailer(),
		want:     want,
		prev:     a.seed,
		declared: declared,
	}
	if a.Payload.signedChunks() {
		c.auth, c.sum = a, sha256.New()
	}
	return c
}

// Read implements io.Reader.
func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) == 0 && c.err == nil && c.state != stateDone {
		return 0, nil
	}
	for c.err == nil {
		var n int
		switch c.state {
		case stateHeader:
			c.err = c.readHeader()
		case stateData:
			n, c.err = c.readData(p)
		case stateDataEnd:
			c.err = c.readDataEnd()
		case stateTrailer:
			c.err = c.readTrailer()
		case stateDone:
			return 0, io.EOF
		}
		if n > 0 {
			return n, c.err
		}
	}
	return 0, c.err
}

// readHeader reads a chunk header line. A final chunk's signature is
// checked at once, its data being empty.
func (c *chunkReader) readHeader() error {
	line, err := c.readLine(true)
	if err == io.EOF {
		return fmt.Errorf("read chunk header: body ended: %w", ErrIncompleteBody)
	}
	if err != nil {
		return err
	}
	c.chunks++
	size, sig, err := parseChunkHeader(line, c.auth != nil)
	if err != nil {
		return err
	}
	if c.declared >= 0 && size > c.declared-c.decoded {
		return fmt.Errorf("read chunk %d: %d bytes would pass x-amz-decoded-content-length %d: %w",
			c.chunks, size, c.declared, ErrInvalidRequest)
	}
	c.claimed = sig
	if c.sum != nil {
		c.sum.Reset()
	}
	if size > 0 {
		c.left, c.state = size, stateData
		return nil
	}
	if err := c.checkChunk(); err != nil {
		return err
	}
	if c.declared >= 0 && c.decoded < c.declared {
		return fmt.Errorf("read final chunk: %d of %d declared bytes: %w", c.decoded, c.declared, ErrIncompleteBody)
	}
	c.state = stateTrailer
	return nil
}

// parseChunkHeader parses "hex-size[;chunk-signature=sig]" without its
// CRLF. signed says whether the signature is required or forbidden.
func parseChunkHeader(line string, signed bool) (int64, string, error) {
	sizeStr, ext, hasExt := strings.Cut(line, ";")
	size, err := strconv.ParseUint(sizeStr, 16, 64)
	if err != nil || len(sizeStr) > 16 || size > uint64(maxChunkSize) {
		return 0, "", fmt.Errorf("parse chunk size %.32q: %w", sizeStr, ErrInvalidRequest)
	}
	if !signed {
		if hasExt {
			return 0, "", fmt.Errorf("parse unsigned chunk header %.80q: unexpected extension: %w", line, ErrInvalidRequest)
		}
		return int64(size), "", nil
	}
	sig, ok := strings.CutPrefix(ext, "chunk-signature=")
	if !hasExt || !ok || !isLowerHex(sig, 64) {
		return 0, "", fmt.Errorf("parse chunk signature in %.120q: %w", line, ErrInvalidRequest)
	}
	return int64(size), sig, nil
}

// readData returns data of the current chunk, never more than it has left.
func (c *chunkReader) readData(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	if n > 0 {
		if c.sum != nil {
			c.sum.Write(p[:n])
		}
		c.left -= int64(n)
		c.decoded += int64(n)
		if c.left == 0 {
			c.state = stateDataEnd
		}
	}
	if err != nil {
		return n, readError(fmt.Sprintf("read chunk %d data", c.chunks), err)
	}
	return n, nil
}

// readDataEnd reads the CRLF after a chunk's data and checks its signature.
func (c *chunkReader) readDataEnd() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return readError(fmt.Sprintf("read end of chunk %d", c.chunks), err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return fmt.Errorf("read end of chunk %d: data longer than its size: %w", c.chunks, ErrInvalidRequest)
	}
	c.state = stateHeader
	return c.checkChunk()
}

// checkChunk verifies the signature of the chunk just read and makes it
// the previous one.
func (c *chunkReader) checkChunk() error {
	if c.auth == nil {
		return nil
	}
	sts := c.auth.chunkStringToSign(c.prev, c.sum.Sum(nil))
	if !equalSignature(c.auth.sign(sts), c.claimed) {
		return fmt.Errorf("verify chunk signature: %w",
			&SignatureError{What: "chunk " + strconv.Itoa(c.chunks), StringToSign: sts})
	}
	c.prev = c.claimed
	return nil
}

// readLine reads a line of at most maxLineLength bytes and returns it
// without its line end, which must be CRLF when crlf is set and may be a
// bare LF otherwise. io.EOF means the body ended before the line began.
func (c *chunkReader) readLine(crlf bool) (string, error) {
	line, err := c.br.ReadSlice('\n')
	if len(line) > maxLineLength || errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("read aws-chunked line: longer than %d bytes: %w", maxLineLength, ErrInvalidRequest)
	}
	if err == io.EOF && len(line) == 0 {
		return "", io.EOF
	}
	if err != nil {
		return "", readError("read aws-chunked line", err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	} else if crlf {
		return "", fmt.Errorf("read aws-chunked line %.80q: no CRLF: %w", line, ErrInvalidRequest)
	}
	return string(line), nil
}

// readError maps an error reading the body: an early end is
// ErrIncompleteBody, anything else (a broken connection) is kept.
func readError(what string, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w", what, ErrIncompleteBody)
	}
	if errors.Is(err, ErrInvalidRequest) || errors.Is(err, ErrIncompleteBody) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}
