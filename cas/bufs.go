// The buffer pools of the read and write paths.

package cas

// maxValue bounds a chunk's stored form: the codec byte and the worst
// case of either codec, or the raw bytes.
func maxValue(maxChunk int) int { return 1 + maxChunk + maxChunk/255 + 64 + 16 }

func (s *Store) putVal(b *[]byte) {
	if b != nil && cap(*b) >= maxValue(s.params.MaxSize) {
		*b = (*b)[:0]
		s.vals.Put(b)
	}
}

// scratch returns a pooled buffer with room for n bytes (from the pool
// of chunk-sized buffers when n fits one, else from the pool of
// frame-sized ones, else a new one), and the function that gives it back.
// A write of one chunk must not hold a frame-sized buffer: concurrent
// PutChunk calls would hold one each.
func (s *Store) scratch(n int) (*[]byte, func()) {
	if n <= maxValue(s.params.MaxSize) {
		b := s.vals.Get().(*[]byte)
		return b, func() { s.putVal(b) }
	}
	if n <= s.opts.CompactFrame+s.params.MaxSize {
		b := s.frames.Get().(*[]byte)
		return b, func() { s.putFrame(b) }
	}
	b := make([]byte, 0, n)
	return &b, func() {}
}

// getBuf and putBuf recycle decode buffers between chunk reads.
func (s *Store) getBuf() *[]byte { return s.bufs.Get().(*[]byte) }

func (s *Store) putBuf(b *[]byte) {
	if b != nil && cap(*b) >= s.params.MaxSize {
		*b = (*b)[:0]
		s.bufs.Put(b)
	}
}
