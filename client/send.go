package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"cairn/cas/chunk"
)

// A Put reads its content once: the chunker cuts and names each chunk and
// copies it into a batch; a second goroutine hashes the batches in order
// into the whole-file digest; each full batch then asks the server which
// of its chunks it lacks and sends those in one request (POST /v1/chunks),
// while the chunker fills the next. The bytes sent are the bytes hashed,
// and at most putBatches batches are held at once.
const (
	// batchBytes is how many chunk bytes a batch holds before it is sent:
	// a 5 MiB booster goes as two requests, not forty.
	batchBytes = 4 << 20
	// putBatches bounds the batches one Put holds (being filled, hashed or
	// sent), and so its memory: about putBatches × batchBytes.
	putBatches = 3
)

// batch is chunks in chunk's batch format, raw, back to back, with where
// each one lies. A chunk that the file already held earlier is kept
// aside, in repeats: it is hashed into the file, not sent again.
type batch struct {
	buf     []byte
	repeats []byte
	ents    []batchEntry
}

type batchEntry struct {
	ref    chunk.Ref
	start  int // of the entry (its digest) in buf; -1 for a repeat
	data   int // of the chunk's bytes in buf, or in repeats
	repeat bool
}

func (b *batch) add(d chunk.Digest, p []byte) {
	start := len(b.buf)
	b.buf = chunk.AppendBatchHeader(b.buf, d, len(p)+1)
	b.buf = append(b.buf, chunk.RawForm)
	data := len(b.buf)
	b.buf = append(b.buf, p...)
	b.ents = append(b.ents, batchEntry{ref: chunk.Ref{Digest: d, Size: uint32(len(p))}, start: start, data: data})
}

func (b *batch) addRepeat(d chunk.Digest, p []byte) {
	b.ents = append(b.ents, batchEntry{ref: chunk.Ref{Digest: d, Size: uint32(len(p))}, start: -1, data: len(b.repeats), repeat: true})
	b.repeats = append(b.repeats, p...)
}

func (b *batch) bytes(e batchEntry) []byte {
	src := b.buf
	if e.repeat {
		src = b.repeats
	}
	return src[e.data : e.data+int(e.ref.Size)]
}

func (b *batch) size() int { return len(b.buf) + len(b.repeats) }

func (b *batch) reset() { b.buf, b.repeats, b.ents = b.buf[:0], b.repeats[:0], b.ents[:0] }

// streamed is what one pass over a Put's content found and sent.
type streamed struct {
	fh         FileHash
	sentChunks int
	sentBytes  int64
}

// stream cuts, hashes and uploads size bytes of r in one pass (see above).
func (tr *transfer) stream(ctx context.Context, r io.ReaderAt, size int64, p Progress) (streamed, error) {
	p.Grow(size)
	g, gctx := newGroup(ctx)
	free := make(chan *batch, putBatches)
	for range putBatches {
		free <- &batch{}
	}
	toHash := make(chan *batch, putBatches)
	h := chunk.NewHasher()
	var out streamed
	var mu sync.Mutex // guards out's counts
	g.Go(func() error {
		// Hash in order, then send: a batch is hashed before the chunker
		// may reuse it, since only a sent batch goes back to free.
		for b := range toHash {
			for _, e := range b.ents {
				h.Write(b.bytes(e))
			}
			if err := tr.lim.acquire(gctx); err != nil {
				return err
			}
			g.Go(func() error {
				defer tr.lim.release()
				st, err := tr.sendBatch(gctx, b, true, p)
				b.reset()
				free <- b
				mu.Lock()
				out.sentChunks += st.SentChunks
				out.sentBytes += st.SentBytes
				mu.Unlock()
				return err
			})
		}
		return nil
	})
	var recipe chunk.Recipe
	err := func() error {
		defer close(toHash)
		ck, err := chunk.NewChunker(io.NewSectionReader(r, 0, size), chunk.DefaultParams())
		if err != nil {
			return err
		}
		seen := map[chunk.Digest]bool{}
		var cur *batch
		for {
			b, err := ck.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("chunk: %w", err)
			}
			d := chunk.Sum(b)
			recipe = append(recipe, chunk.Ref{Digest: d, Size: uint32(len(b))})
			p.Advance(int64(len(b)))
			if cur == nil {
				select {
				case cur = <-free:
				case <-gctx.Done():
					return gctx.Err()
				}
				if cur.buf == nil {
					cur.buf = make([]byte, 0, min(int64(batchBytes), size)+4096)
				}
			}
			if !seen[d] {
				seen[d] = true
				cur.add(d, b)
			} else {
				cur.addRepeat(d, b)
			}
			if cur.size() >= batchBytes {
				toHash <- cur
				cur = nil
			}
		}
		if cur != nil {
			toHash <- cur
		}
		return nil
	}()
	if err != nil {
		g.cancel()
	}
	werr := g.Wait()
	if err == nil {
		err = werr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return out, err
	}
	if got := recipe.Size(); got != size {
		return out, fmt.Errorf("read %d bytes, want %d: the file changed", got, size)
	}
	out.fh = FileHash{Size: size, Digest: h.Digest(), Recipe: recipe}
	return out, nil
}

// sendBatch uploads the chunks of b that the server lacks (asking it
// first when ask is set; otherwise all of them) and that no other file of
// the transfer is sending, in one request, then waits for those the
// others send.
func (tr *transfer) sendBatch(ctx context.Context, b *batch, ask bool, p Progress) (PutStats, error) {
	var ds []chunk.Digest
	for _, e := range b.ents {
		if !e.repeat {
			ds = append(ds, e.ref.Digest)
		}
	}
	if len(ds) == 0 {
		return PutStats{}, nil
	}
	need := ds
	if ask {
		var err error
		if need, err = tr.c.Missing(ctx, ds); err != nil || len(need) == 0 {
			return PutStats{}, err
		}
	}
	want := make(map[chunk.Digest]bool, len(need))
	for _, d := range need {
		want[d] = true
	}
	var mine []batchEntry
	var claims []*sending
	var others []*sending
	for _, e := range b.ents {
		if e.repeat || !want[e.ref.Digest] {
			continue
		}
		delete(want, e.ref.Digest)
		s, ok := tr.claim(e.ref.Digest)
		if !ok {
			others = append(others, s)
			continue
		}
		mine = append(mine, e)
		claims = append(claims, s)
	}
	for d := range want {
		err := fmt.Errorf("server asked for chunk %s, which the batch does not hold", d)
		for i, e := range mine {
			tr.finish(e.ref.Digest, claims[i], err)
		}
		return PutStats{}, err
	}
	var st PutStats
	if len(mine) > 0 {
		body := b.buf
		if len(mine) < countSent(b) {
			body = make([]byte, 0, len(b.buf))
			for _, e := range mine {
				body = append(body, b.buf[e.start:e.data+int(e.ref.Size)]...)
			}
		}
		for _, e := range mine {
			st.SentChunks++
			st.SentBytes += int64(e.ref.Size)
		}
		p.Grow(st.SentBytes)
		err := tr.c.putBatch(ctx, body)
		for i, e := range mine {
			tr.finish(e.ref.Digest, claims[i], err)
		}
		if err != nil {
			return PutStats{}, err
		}
		p.Advance(st.SentBytes)
	}
	for _, s := range others {
		if err := s.wait(ctx); err != nil {
			return st, err
		}
	}
	return st, nil
}

// countSent counts the entries of b that carry their chunk (not repeats).
func countSent(b *batch) int {
	n := 0
	for _, e := range b.ents {
		if !e.repeat {
			n++
		}
	}
	return n
}

// putBatch uploads chunks in chunk's batch format; the server checks each
// against its digest and keeps them with one sync. It is idempotent.
func (c *Client) putBatch(ctx context.Context, body []byte) error {
	cl := call{method: http.MethodPost, path: "/v1/chunks", body: body, contentType: "application/octet-stream", idempotent: true}
	if _, err := c.conn.do(ctx, cl); err != nil {
		return fmt.Errorf("put chunks: %w", err)
	}
	return nil
}
