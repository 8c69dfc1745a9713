package cas

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Codec is the one-byte header of a stored chunk: how the bytes after it
// encode the chunk.
type Codec byte

const (
	// CodecRaw stores the chunk as is.
	CodecRaw Codec = 0
	// CodecZstd stores a single zstd frame holding the chunk.
	CodecZstd Codec = 1
)

func (c Codec) String() string {
	switch c {
	case CodecRaw:
		return "raw"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", byte(c))
}

// codec compresses and decompresses chunk values. Its encoder and decoder
// are created once and shared: EncodeAll and DecodeAll are safe for
// concurrent use.
type codec struct {
	enc       *zstd.Encoder
	dec       *zstd.Decoder
	minSaving float64
}

func newCodec(minSaving float64, concurrency int) (*codec, error) {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(false)) // every read re-hashes with BLAKE3
	if err != nil {
		return nil, fmt.Errorf("create zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(concurrency),
		zstd.WithDecoderMaxMemory(8<<20),
		zstd.IgnoreChecksum(true))
	if err != nil {
		return nil, fmt.Errorf("create zstd decoder: %w", err)
	}
	return &codec{enc: enc, dec: dec, minSaving: minSaving}, nil
}

// encode returns the stored form of chunk: the codec byte, then either the
// zstd frame or, when compression saves less than minSaving of the length,
// the raw bytes. dst is reused when it has room.
func (c *codec) encode(dst, chunk []byte) []byte {
	dst = append(dst[:0], byte(CodecZstd))
	dst = c.enc.EncodeAll(chunk, dst)
	if float64(len(dst)-1) > float64(len(chunk))*(1-c.minSaving) {
		dst = append(dst[:0], byte(CodecRaw))
		dst = append(dst, chunk...)
	}
	return dst
}

var errBadCodec = errors.New("unknown codec")

// decodeSlack is spare capacity given to zstd's output buffer, so that it
// takes its fast path instead of the bounds-checked one.
const decodeSlack = 64

// decode appends the chunk held by stored value v to dst. maxSize bounds
// the decoded length.
func (c *codec) decode(dst, v []byte, maxSize int) ([]byte, error) {
	if len(v) == 0 {
		return nil, errors.New("empty value")
	}
	switch Codec(v[0]) {
	case CodecRaw:
		if len(v)-1 > maxSize {
			return nil, ErrTooLarge
		}
		return append(dst, v[1:]...), nil
	case CodecZstd:
		var h zstd.Header
		if err := h.Decode(v[1:]); err != nil {
			return nil, err
		}
		// The encoder leaves the content size out of frames under 256
		// bytes; then decode and check the length afterwards.
		if h.HasFCS && h.FrameContentSize > uint64(maxSize) {
			return nil, fmt.Errorf("zstd frame of %d bytes, above %d", h.FrameContentSize, maxSize)
		}
		size := int(h.FrameContentSize)
		if !h.HasFCS {
			size = 256
		}
		// zstd's fast decoding loop needs some room past the output.
		if need := size + decodeSlack; cap(dst)-len(dst) < need {
			dst = append(make([]byte, 0, len(dst)+need), dst...)
		}
		start := len(dst)
		out, err := c.dec.DecodeAll(v[1:], dst)
		if err != nil {
			return nil, err
		}
		if len(out)-start > maxSize {
			return nil, fmt.Errorf("zstd frame of %d bytes, above %d", len(out)-start, maxSize)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w %d", errBadCodec, v[0])
}

// logicalSize returns the length of the chunk that stored value v holds,
// from its header when the header says, else by decoding it (only small
// frames leave it out).
func (c *codec) logicalSize(v []byte, maxSize int) (int64, error) {
	if len(v) == 0 {
		return 0, errors.New("empty value")
	}
	switch Codec(v[0]) {
	case CodecRaw:
		return int64(len(v) - 1), nil
	case CodecZstd:
		var h zstd.Header
		if err := h.Decode(v[1:]); err != nil {
			return 0, err
		}
		if h.HasFCS {
			return int64(h.FrameContentSize), nil
		}
		b, err := c.decode(nil, v, maxSize)
		return int64(len(b)), err
	}
	return 0, fmt.Errorf("%w %d", errBadCodec, v[0])
}

func (c *codec) close() {
	c.enc.Close()
	c.dec.Close()
}
