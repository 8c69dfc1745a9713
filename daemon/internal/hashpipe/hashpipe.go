package hashpipe

import "io"

const (
	// Inline is how many bytes a Writer passes on in the caller's
	// goroutine before it starts its own.
	Inline    = 1 << 20
	blockSize = 256 << 10
	blocks    = 4
)

// Writer passes what it is given to w, in order. It is not safe for
// concurrent use; Close must be called before w's result is read, and
// after the last Write.
type Writer struct {
	w      io.Writer
	n      int64
	full   chan []byte
	free   chan []byte
	cur    []byte
	done   chan struct{}
	closed bool
}

// New returns a Writer feeding w, which must not fail.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Write passes p on to w, or copies it to be passed on by the Writer's
// goroutine. It never fails: w must not.
func (p *Writer) Write(b []byte) (int, error) {
	if p.closed {
		panic("hashpipe: write after Close")
	}
	n := len(b)
	if p.full == nil && p.n+int64(n) <= Inline {
		p.n += int64(n)
		p.w.Write(b)
		return n, nil
	}
	if p.full == nil {
		p.start()
	}
	p.n += int64(n)
	for len(b) > 0 {
		if p.cur == nil {
			p.cur = <-p.free
		}
		k := min(len(b), cap(p.cur)-len(p.cur))
		p.cur = append(p.cur, b[:k]...)
		b = b[k:]
		if len(p.cur) == cap(p.cur) {
			p.full <- p.cur
			p.cur = nil
		}
	}
	return n, nil
}

func (p *Writer) start() {
	p.full, p.free, p.done = make(chan []byte, blocks), make(chan []byte, blocks), make(chan struct{})
	for range blocks {
		p.free <- make([]byte, 0, blockSize)
	}
	go func() {
		defer close(p.done)
		for b := range p.full {
			p.w.Write(b)
			p.free <- b[:0]
		}
	}()
}

// Aside reports whether the Writer has started its goroutine.
func (p *Writer) Aside() bool { return p.full != nil }

// Close returns once w has been given everything written, and stops the
// Writer's goroutine. It may be called more than once.
func (p *Writer) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.full != nil {
		if len(p.cur) > 0 {
			p.full <- p.cur
		}
		close(p.full)
		<-p.done
		p.cur = nil
	}
	return nil
}
