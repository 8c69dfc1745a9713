package chunk

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Format is the version of the chunking scheme: the gear table, the mask
// construction and DefaultParams. Stores record it; data chunked under
// another Format still reads back, but no longer dedups against new data.
const Format = 1

// Default chunk size bounds (chunker format 1). The average was chosen by
// measuring retrained XGBoost boosters; see docs/format.md.
const (
	DefaultMinSize = 32 << 10
	DefaultAvgSize = 128 << 10
	DefaultMaxSize = 512 << 10
)

// Params are the bounds of content-defined chunking. The zero value means
// DefaultParams.
type Params struct {
	MinSize int // no chunk but the last is shorter
	AvgSize int // the normalized target; a power of two
	MaxSize int // no chunk is longer
}

// DefaultParams returns the parameters of chunker format 1.
func DefaultParams() Params {
	return Params{MinSize: DefaultMinSize, AvgSize: DefaultAvgSize, MaxSize: DefaultMaxSize}
}

func (p Params) withDefaults() Params {
	if p == (Params{}) {
		return DefaultParams()
	}
	return p
}

// Validate reports whether p describes a usable chunker.
func (p Params) Validate() error {
	p = p.withDefaults()
	switch {
	case p.MinSize < 64:
		return fmt.Errorf("chunk: min size %d below 64", p.MinSize)
	case p.AvgSize&(p.AvgSize-1) != 0:
		return fmt.Errorf("chunk: average size %d is not a power of two", p.AvgSize)
	case !(p.MinSize < p.AvgSize && p.AvgSize < p.MaxSize):
		return fmt.Errorf("chunk: sizes must grow: min %d, avg %d, max %d", p.MinSize, p.AvgSize, p.MaxSize)
	}
	return nil
}

// masks returns the two normalized-chunking masks (FastCDC, level 2): a
// harder one, with two more bits than log2(avg), used before the average
// size, and an easier one, with two fewer, after it. They take the hash's
// high bits, which depend on the last 64 bytes; the low bits of a gear hash
// see only the last few.
func (p Params) masks() (hard, easy uint64) {
	n := bits.TrailingZeros(uint(p.AvgSize))
	return ^uint64(0) << (64 - (n + 2)), ^uint64(0) << (64 - (n - 2))
}

// Cut returns the length of the first chunk of data, given that data holds
// either at least MaxSize bytes or everything up to the end of the stream.
func (p Params) Cut(data []byte) int {
	p = p.withDefaults()
	hard, easy := p.masks()
	return cut(data, p.MinSize, p.AvgSize, p.MaxSize, hard, easy)
}

func cut(data []byte, minSize, avgSize, maxSize int, hard, easy uint64) int {
	n := len(data)
	if n <= minSize {
		return n
	}
	if n > maxSize {
		n = maxSize
	}
	normal := min(avgSize, n)
	// The hash starts at the minimum size: no boundary can come sooner,
	// so the bytes before it are not scanned at all.
	i, h := scan(data[minSize:normal], 0, hard)
	if i >= 0 {
		return minSize + i + 1
	}
	if i, _ = scan(data[normal:n], h, easy); i >= 0 {
		return normal + i + 1
	}
	return n
}

// scan rolls the gear hash h over data and returns the index of the first
// byte after which h&mask is zero, or -1 and the hash after the last byte.
//
// It takes four bytes a step. Each of the four hashes is computed from the
// hash before the step (h<<k plus the step's own bytes, shifted), not from
// the one before it, so the chain that carries h from step to step is one
// shift and one add per four bytes instead of per byte; the rest runs in
// parallel on the core's other units. The boundaries are exactly those of
// the byte-at-a-time loop.
func scan(data []byte, h uint64, mask uint64) (int, uint64) {
	i := 0
	for ; i+4 <= len(data); i += 4 {
		b := data[i : i+4 : i+4]
		t0 := gear[b[0]]
		t1 := t0<<1 + gear[b[1]]
		t2 := t1<<1 + gear[b[2]]
		t3 := t2<<1 + gear[b[3]]
		h0, h1, h2, h3 := h<<1+t0, h<<2+t1, h<<3+t2, h<<4+t3
		switch {
		case h0&mask == 0:
			return i, h0
		case h1&mask == 0:
			return i + 1, h1
		case h2&mask == 0:
			return i + 2, h2
		case h3&mask == 0:
			return i + 3, h3
		}
		h = h3
	}
	for ; i < len(data); i++ {
		if h = h<<1 + gear[data[i]]; h&mask == 0 {
			return i, h
		}
	}
	return -1, h
}

// Chunker splits a stream into content-defined chunks. The boundaries
// depend only on the bytes, never on how the underlying reader splits its
// reads. A Chunker is not safe for concurrent use.
type Chunker struct {
	r                         io.Reader
	buf                       []byte
	start, end                int
	eof                       bool
	minSize, avgSize, maxSize int
	hard, easy                uint64
}

// NewChunker returns a Chunker reading r with the given parameters (the zero
// Params means DefaultParams).
func NewChunker(r io.Reader, p Params) (*Chunker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	hard, easy := p.masks()
	return &Chunker{
		r:       r,
		buf:     make([]byte, 2*p.MaxSize),
		minSize: p.MinSize, avgSize: p.AvgSize, maxSize: p.MaxSize,
		hard: hard, easy: easy,
	}, nil
}

// Reset makes c split r from its start, keeping its parameters and its
// buffer: a caller chunking many small files saves allocating the buffer
// (twice the largest chunk) for each.
func (c *Chunker) Reset(r io.Reader) {
	c.r, c.start, c.end, c.eof = r, 0, 0, false
}

// Next returns the next chunk. The slice is valid only until the following
// call to Next; callers that keep it must copy it. At the end of the stream
// Next returns nil, io.EOF. An empty stream has no chunks.
func (c *Chunker) Next() ([]byte, error) {
	if c.end-c.start < c.maxSize && !c.eof {
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
	if c.start == c.end {
		return nil, io.EOF
	}
	n := cut(c.buf[c.start:c.end], c.minSize, c.avgSize, c.maxSize, c.hard, c.easy)
	b := c.buf[c.start : c.start+n]
	c.start += n
	return b, nil
}

// fill slides the unread bytes to the front and reads until the buffer
// holds at least MaxSize bytes or the stream ends.
func (c *Chunker) fill() error {
	c.end = copy(c.buf, c.buf[c.start:c.end])
	c.start = 0
	for c.end < c.maxSize {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if errors.Is(err, io.EOF) {
			c.eof = true
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}
