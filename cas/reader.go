package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"cairn/cas/chunk"
)

// Reader reads a file back from its recipe. Every chunk it returns bytes
// from has been verified against its digest. Sequential reads fetch the
// next chunks ahead, decompressing and verifying them on several cores.
// Read and Seek must be called from one goroutine at a time; ReadAt is safe
// for concurrent use, as io.ReaderAt requires. Close stops the read-ahead.
type Reader struct {
	s       *Store
	ctx     context.Context
	cancel  context.CancelFunc
	recipe  Recipe
	offsets []int64
	pos     int64
	window  int

	cur     int // chunk held in curData, or -1
	curData []byte
	curBuf  *[]byte  // pooled buffer behind curData
	ahead   []*fetch // fetches of chunks aheadFrom, aheadFrom+1, ...
	from    int
	wg      sync.WaitGroup
}

type fetch struct {
	done chan struct{}
	buf  *[]byte
	data []byte
	err  error
}

// Open returns a Reader over the file that recipe describes. The Reader
// uses ctx for all its reads; the caller must Close it.
func (s *Store) Open(ctx context.Context, recipe Recipe) *Reader {
	ctx, cancel := context.WithCancel(ctx)
	return &Reader{
		s: s, ctx: ctx, cancel: cancel,
		recipe: recipe, offsets: recipe.Offsets(),
		window: 2 * s.opts.Concurrency,
		cur:    -1,
	}
}

// Size returns the length of the file.
func (r *Reader) Size() int64 { return r.offsets[len(r.offsets)-1] }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.pos >= r.Size() {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	i := chunk.Locate(r.offsets, r.pos)
	if i != r.cur {
		data, err := r.take(i)
		if err != nil {
			return 0, err
		}
		r.cur, r.curData = i, data
	}
	n := copy(p, r.curData[r.pos-r.offsets[i]:])
	r.pos += int64(n)
	return n, nil
}

// take returns chunk i, from the read-ahead when it holds it, and keeps
// the read-ahead window filled with the chunks after i.
func (r *Reader) take(i int) ([]byte, error) {
	if i < r.from || i >= r.from+len(r.ahead) {
		r.dropAhead()
		r.from = i
	}
	for k := r.from; k < i; k++ { // skipped by a forward seek
		r.ahead = r.ahead[1:]
	}
	r.from = i
	for len(r.ahead) < r.window && r.from+len(r.ahead) < len(r.recipe) {
		r.ahead = append(r.ahead, r.start(r.from+len(r.ahead)))
	}
	f := r.ahead[0]
	r.ahead = r.ahead[1:]
	r.from++
	select {
	case <-f.done:
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	if len(f.data) != int(r.recipe[i].Size) {
		return nil, &CorruptError{Digest: r.recipe[i].Digest,
			Reason: fmt.Sprintf("chunk is %d bytes, recipe says %d", len(f.data), r.recipe[i].Size)}
	}
	r.s.bp.putBuf(r.curBuf)
	r.curBuf = f.buf
	return f.data, nil
}

func (r *Reader) start(i int) *fetch {
	f := &fetch{done: make(chan struct{})}
	d := r.recipe[i].Digest
	r.wg.Go(func() {
		defer close(f.done)
		f.buf = r.s.bp.getBuf()
		f.data, f.err = r.s.rd.get(r.ctx, d, *f.buf, accessStream)
	})
	return f
}

func (r *Reader) dropAhead() { r.ahead = r.ahead[:0] }

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.Size() + offset
	default:
		return 0, errors.New("cas: seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("cas: seek: negative position")
	}
	r.pos = abs
	return abs, nil
}

// ReadAt implements io.ReaderAt: it reads only the chunks that cover
// [off, off+len(p)), fetching them concurrently.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("cas: read at negative offset")
	}
	size := r.Size()
	if off >= size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), size)
	first, last := chunk.Locate(r.offsets, off), chunk.Locate(r.offsets, end-1)
	sem := make(chan struct{}, r.s.opts.Concurrency)
	errs := make([]error, last-first+1)
	var wg sync.WaitGroup
	for i := first; i <= last; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ref := r.recipe[i]
			buf := r.s.bp.getBuf()
			defer r.s.bp.putBuf(buf)
			data, err := r.s.rd.getChunk(r.ctx, ref.Digest, *buf)
			if err == nil && len(data) != int(ref.Size) {
				err = &CorruptError{Digest: ref.Digest, Reason: "length differs from recipe"}
			}
			if err != nil {
				errs[i-first] = err
				return
			}
			lo, hi := max(off, r.offsets[i]), min(end, r.offsets[i+1])
			copy(p[lo-off:hi-off], data[lo-r.offsets[i]:hi-r.offsets[i]])
		})
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			// Bytes before the failed chunk are good.
			return int(max(0, r.offsets[first+k]-off)), err
		}
	}
	n := int(end - off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteTo implements io.WriterTo, so io.Copy streams chunk by chunk
// without an intermediate buffer.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.pos < r.Size() {
		i := chunk.Locate(r.offsets, r.pos)
		if i != r.cur {
			data, err := r.take(i)
			if err != nil {
				return total, err
			}
			r.cur, r.curData = i, data
		}
		n, err := w.Write(r.curData[r.pos-r.offsets[i]:])
		total += int64(n)
		r.pos += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close stops read-ahead and waits for it.
func (r *Reader) Close() error {
	r.cancel()
	r.wg.Wait()
	r.s.bp.putBuf(r.curBuf)
	r.ahead, r.curData, r.curBuf = nil, nil, nil
	return nil
}

// ReadBack writes the file that recipe describes to w, chunk after chunk,
// without verifying each chunk against its digest and without counting
// the read as use of its chunks (their heat, the cache of chunks read
// lately); the chunks PutStoredBatch kept decoded for it come from the
// cache, which forgets them then. It is for a caller that verifies the
// whole: a commit checks the file's digest over what ReadBack gives and,
// should that fail, reads again through Open to tell a corrupt chunk from
// a wrong digest.
func (s *Store) ReadBack(ctx context.Context, recipe Recipe, w io.Writer) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	buf := s.bp.getBuf()
	defer s.bp.putBuf(buf)
	for _, ref := range recipe {
		s.act.markRead(ctx)
		b, fresh, ok := s.rd.cache.take(ref.Digest, (*buf)[:0])
		if !ok {
			var err error
			if b, err = s.rd.readChunk(ctx, ref.Digest, (*buf)[:0], accessOne); err != nil {
				return err
			}
		}
		if !fresh { // a fresh chunk's bytes are not the pooled buffer's
			*buf = b
		}
		if len(b) != int(ref.Size) {
			return &CorruptError{Digest: ref.Digest, Reason: fmt.Sprintf("chunk is %d bytes, recipe says %d", len(b), ref.Size)}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
