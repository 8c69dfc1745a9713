package cas

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Codec is the one-byte header of a stored chunk: how the bytes after it
// encode the chunk.
type Codec byte

const (
	// CodecRaw stores the chunk as is.
	CodecRaw Codec = 0
	// CodecZstd stores a single zstd frame holding the chunk. In a pack
	// file's record, one frame may hold several chunks (see pack.go).
	CodecZstd Codec = 1
	// CodecS2 stores one S2 block (klauspost/compress/s2) holding the
	// chunk: the fast codec new chunks are written with.
	CodecS2 Codec = 2
)

func (c Codec) String() string {
	switch c {
	case CodecRaw:
		return "raw"
	case CodecZstd:
		return "zstd"
	case CodecS2:
		return "s2"
	}
	return fmt.Sprintf("codec(%d)", byte(c))
}

// codec compresses and decompresses chunk values. Its zstd decoder is
// created once and shared: DecodeAll is safe for concurrent use. S2 needs
// no state.
type codec struct {
	dec       *zstd.Decoder
	minSaving float64
	raw       bool // store new chunks raw (to measure S2 against)
}

func newCodec(minSaving float64, concurrency int) (*codec, error) {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(concurrency),
		zstd.WithDecoderMaxMemory(64<<20),
		zstd.IgnoreChecksum(true))
	if err != nil {
		return nil, fmt.Errorf("create zstd decoder: %w", err)
	}
	return &codec{dec: dec, minSaving: minSaving}, nil
}

// encode returns the stored form new chunks are written in: the codec
// byte, then either an S2 block or, when S2 saves less than minSaving of
// the length, the raw bytes. dst is reused when it has room.
func (c *codec) encode(dst, chunk []byte) []byte {
	if c.raw {
		return appendRaw(dst, chunk)
	}
	need := 1 + s2.MaxEncodedLen(len(chunk))
	if cap(dst) < need {
		dst = make([]byte, 0, need)
	}
	dst = dst[:need]
	dst[0] = byte(CodecS2)
	n := len(s2.Encode(dst[1:], chunk))
	if float64(n) > float64(len(chunk))*(1-c.minSaving) {
		return appendRaw(dst, chunk)
	}
	return dst[:1+n]
}

// appendRaw returns the raw stored form of chunk, in dst if it has room.
func appendRaw(dst, chunk []byte) []byte {
	return append(append(dst[:0], byte(CodecRaw)), chunk...)
}

// encodeNew returns the stored form a Put writes a new chunk in: what
// the codec encodes (S2, or raw where S2 does not pay), or raw while
// every core is busy and the store has RawWhenBusy. dst is reused when it
// has room.
func (s *Store) encodeNew(dst, chunk []byte) []byte {
	if s.opts.RawWhenBusy && (s.opts.fullCPU || s.cpu.saturated()) {
		return appendRaw(dst, chunk)
	}
	return s.codec.encode(dst, chunk)
}

// pays reports whether a compressed form of n bytes saves enough over
// the raw length to be worth decoding.
func (c *codec) pays(n, raw int) bool { return float64(n) <= float64(raw)*(1-c.minSaving) }

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
	return c.decodeFrame(dst, Codec(v[0]), v[1:], maxSize)
}

// decodeFrame appends what payload p of codec k decodes to, at most
// maxSize bytes, to dst.
func (c *codec) decodeFrame(dst []byte, k Codec, p []byte, maxSize int) ([]byte, error) {
	switch k {
	case CodecRaw:
		if len(p) > maxSize {
			return nil, ErrTooLarge
		}
		return append(dst, p...), nil
	case CodecS2:
		n, err := s2.DecodedLen(p)
		if err != nil {
			return nil, err
		}
		if n > maxSize {
			return nil, fmt.Errorf("s2 block of %d bytes, above %d", n, maxSize)
		}
		start := len(dst)
		if cap(dst)-start < n {
			dst = append(make([]byte, 0, start+n), dst...)
		}
		out, err := s2.Decode(dst[start:start+n], p)
		if err != nil {
			return nil, err
		}
		if len(out) != n {
			return nil, fmt.Errorf("s2 block decodes to %d bytes, header says %d", len(out), n)
		}
		return dst[:start+n], nil
	case CodecZstd:
		var h zstd.Header
		if err := h.Decode(p); err != nil {
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
		out, err := c.dec.DecodeAll(p, dst)
		if err != nil {
			return nil, err
		}
		if len(out)-start > maxSize {
			return nil, fmt.Errorf("zstd frame of %d bytes, above %d", len(out)-start, maxSize)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w %d", errBadCodec, byte(k))
}

// logicalSize returns the length of the chunk that stored value v holds,
// from its header when the header says, else by decoding it (only small
// zstd frames leave it out).
func (c *codec) logicalSize(v []byte, maxSize int) (int64, error) {
	if len(v) == 0 {
		return 0, errors.New("empty value")
	}
	switch Codec(v[0]) {
	case CodecRaw:
		return int64(len(v) - 1), nil
	case CodecS2:
		n, err := s2.DecodedLen(v[1:])
		return int64(n), err
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

func (c *codec) close() { c.dec.Close() }
