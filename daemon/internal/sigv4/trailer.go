package sigv4

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
)

// readTrailer reads what follows the final chunk: the trailing headers,
// the trailer signature in the signed mode, the blank line, and the end of
// the body. Clients differ in the blank lines they put around trailing
// headers (minio-go ends each with LF then sends a CRLF line; other
// encoders put a blank line after the final chunk), so blank lines are
// skipped until everything expected has arrived. Trailing headers are kept
// in c.trailer; checking them against x-amz-trailer is the Body's job.
func (c *chunkReader) readTrailer() error {
	signed := c.auth != nil && c.trailers
	var canonical strings.Builder
	claimed := ""
	for lines := 0; ; lines++ {
		if lines == maxTrailerLines {
			return fmt.Errorf("read trailing headers: more than %d lines: %w", maxTrailerLines, ErrInvalidRequest)
		}
		line, err := c.readLine(false)
		if err == io.EOF {
			break // some encoders omit the last CRLF
		}
		if err != nil {
			return err
		}
		if line == "" {
			if (signed && claimed == "") || (!signed && c.trailers && len(c.trailer) < c.want) {
				continue
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		switch {
		case !ok || !isHeaderName(name) || !c.trailers || claimed != "":
			return fmt.Errorf("read trailing header %.80q: %w", line, ErrInvalidRequest)
		case name == trailerSignatureName:
			if !signed || !isLowerHex(value, 64) {
				return fmt.Errorf("read %s %.80q: %w", trailerSignatureName, value, ErrInvalidRequest)
			}
			claimed = value
		default:
			c.trailer = append(c.trailer, queryParam{name, value})
			canonical.WriteString(name + ":" + value + "\n")
		}
	}
	if signed {
		if claimed == "" {
			return fmt.Errorf("read trailing headers: no %s: %w", trailerSignatureName, ErrInvalidRequest)
		}
		sum := sha256.Sum256([]byte(canonical.String()))
		sts := c.auth.trailerStringToSign(c.prev, sum[:])
		if !equalSignature(c.auth.sign(sts), claimed) {
			return fmt.Errorf("verify trailer signature: %w", &SignatureError{What: "trailer", StringToSign: sts})
		}
		c.prev = claimed
	}
	// minio-go sends one CRLF more than the others; allow a few.
	for i := 0; ; i++ {
		b, err := c.br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return readError("read end of body", err)
		}
		if (b != '\r' && b != '\n') || i == 4 {
			return fmt.Errorf("read end of body: data after the final chunk: %w", ErrInvalidRequest)
		}
	}
	c.state = stateDone
	return nil
}
