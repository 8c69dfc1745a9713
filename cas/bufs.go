// The buffer pools of the read and write paths.

package cas

import "sync"

// maxValue bounds a chunk's stored form: the codec byte and the worst
// case of either codec, or the raw bytes.
func maxValue(maxChunk int) int { return 1 + maxChunk + maxChunk/255 + 64 + 16 }

// pools recycles the buffers of reads and writes.
type pools struct {
	maxChunk, frameSize int

	bufs   sync.Pool // *[]byte of capacity maxChunk+decodeSlack, for decoded chunks
	blocks sync.Pool // *block, Put's read buffers
	vals   sync.Pool // *[]byte of capacity maxValue, scratch for encoding
	frames sync.Pool // *[]byte, scratch for pack records and decoded frames
}

func newPools(maxChunk, frameSize int) *pools {
	bp := &pools{maxChunk: maxChunk, frameSize: frameSize}
	bp.blocks.New = func() any { return &block{buf: make([]byte, blockSize)} }
	bp.vals.New = func() any { b := make([]byte, 0, maxValue(maxChunk)); return &b }
	bp.bufs.New = func() any { b := make([]byte, 0, maxChunk+decodeSlack); return &b }
	bp.frames.New = func() any { b := make([]byte, 0, frameSize+decodeSlack); return &b }
	return bp
}

func (bp *pools) putVal(b *[]byte) {
	if b != nil && cap(*b) >= maxValue(bp.maxChunk) {
		*b = (*b)[:0]
		bp.vals.Put(b)
	}
}

// scratch returns a pooled buffer with room for n bytes (from the pool
// of chunk-sized buffers when n fits one, else from the pool of
// frame-sized ones, else a new one), and the function that gives it back.
// A write of one chunk must not hold a frame-sized buffer: concurrent
// PutChunk calls would hold one each.
func (bp *pools) scratch(n int) (*[]byte, func()) {
	if n <= maxValue(bp.maxChunk) {
		b := bp.vals.Get().(*[]byte)
		return b, func() { bp.putVal(b) }
	}
	if n <= bp.frameSize+bp.maxChunk {
		b := bp.frames.Get().(*[]byte)
		return b, func() { bp.putFrame(b) }
	}
	b := make([]byte, 0, n)
	return &b, func() {}
}

// getBuf and putBuf recycle decode buffers between chunk reads.
func (bp *pools) getBuf() *[]byte { return bp.bufs.Get().(*[]byte) }

func (bp *pools) putBuf(b *[]byte) {
	if b != nil && cap(*b) >= bp.maxChunk {
		*b = (*b)[:0]
		bp.bufs.Put(b)
	}
}

// putFrame recycles a frame buffer, unless a frame larger than any the
// store writes grew it.
func (bp *pools) putFrame(b *[]byte) {
	if b != nil && cap(*b) <= 2*(bp.frameSize+bp.maxChunk) {
		*b = (*b)[:0]
		bp.frames.Put(b)
	}
}
