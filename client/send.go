package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/klauspost/compress/s2"

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

// batch is chunks of a file in order, their bytes back to back in plain
// (what the whole-file digest is computed over). A chunk that the file
// held earlier is a repeat: hashed into the file, not sent again. wire
// and tmp are the buffers its uploads are encoded in.
type batch struct {
	plain []byte
	ents  []batchEntry
	wire  []byte
	tmp   []byte
	// sent lists the entries (indexes in ents) that sendBatch sent this
	// time: not those the server had, repeats, or those another file of
	// the transfer sent.
	sent []int
}

type batchEntry struct {
	ref    chunk.Ref
	off    int // of the chunk's bytes in plain
	repeat bool
}

func (b *batch) add(d chunk.Digest, p []byte, repeat bool) {
	b.ents = append(b.ents, batchEntry{ref: chunk.Ref{Digest: d, Size: uint32(len(p))}, off: len(b.plain), repeat: repeat})
	b.plain = append(b.plain, p...)
}

func (b *batch) bytes(e batchEntry) []byte { return b.plain[e.off : e.off+int(e.ref.Size)] }

func (b *batch) reset() {
	b.plain, b.ents, b.wire, b.sent = b.plain[:0], b.ents[:0], b.wire[:0], b.sent[:0]
}

// encode returns the upload of entries es in chunk's batch format, each
// chunk in S2's block format where that saves at least minSaving of it
// (the form the chunk store keeps new chunks in, so the node stores it
// as it comes), raw otherwise.
func (b *batch) encode(es []batchEntry) []byte {
	b.wire = b.wire[:0]
	for _, e := range es {
		p := b.bytes(e)
		n := s2.MaxEncodedLen(len(p))
		if cap(b.tmp) < n {
			b.tmp = make([]byte, n)
		}
		if enc := s2.Encode(b.tmp[:n], p); float64(len(enc)) <= float64(len(p))*(1-minSaving) {
			b.wire = chunk.AppendForm(b.wire, e.ref.Digest, s2Form, enc)
		} else {
			b.wire = chunk.AppendForm(b.wire, e.ref.Digest, chunk.RawForm, p)
		}
	}
	return b.wire
}

const (
	// s2Form is the codec byte of a chunk in S2's block format
	// (cas.CodecS2).
	s2Form byte = 2
	// minSaving is the share of a chunk that S2 must save for the chunk to
	// go compressed (cas.DefaultMinSaving).
	minSaving = 0.03
)

// batchPool keeps batches, and their buffers, from one Put to the next.
var batchPool = sync.Pool{New: func() any { return &batch{} }}

// chunkerPool keeps chunkers, and their buffers (twice the largest chunk),
// from one Put to the next: a fresh buffer costs a page fault and a
// zeroed page every 4 KiB, as much as copying the content into it.
var chunkerPool = sync.Pool{New: func() any {
	ck, err := chunk.NewChunker(nil, chunk.DefaultParams())
	if err != nil {
		panic(err) // the default parameters are valid
	}
	return ck
}}

// chunkerOf returns a pooled chunker that splits r; releaseChunker gives
// it back once its last chunk is no longer used.
func chunkerOf(r io.Reader) *chunk.Chunker {
	ck := chunkerPool.Get().(*chunk.Chunker)
	ck.Reset(r)
	return ck
}

func releaseChunker(ck *chunk.Chunker) {
	ck.Reset(nil)
	chunkerPool.Put(ck)
}

// readPool keeps the buffers that whole-file hash passes read through:
// small enough to stay in the core's cache between the read and the hash.
var readPool = sync.Pool{New: func() any { return new([readBuffer]byte) }}

const readBuffer = 256 << 10

// streamed is what one pass over a Put's content found and sent.
type streamed struct {
	fh         FileHash
	sentChunks int
	sentBytes  int64
}

// stream cuts, hashes and uploads size bytes of r in one pass (see above).
// digest, unless zero, is the whole file's, which the caller computed:
// stream then does not hash the file again.
func (tr *transfer) stream(ctx context.Context, r io.ReaderAt, size int64, digest chunk.Digest, p Progress) (streamed, error) {
	p.Grow(size)
	g, gctx := newGroup(ctx)
	free := make(chan *batch, putBatches)
	for range putBatches {
		free <- batchPool.Get().(*batch)
	}
	defer func() {
		// The batches back in free go to the next Put (after a failure,
		// some may not be).
		for {
			select {
			case b := <-free:
				b.reset()
				batchPool.Put(b)
			default:
				return
			}
		}
	}()
	toHash := make(chan *batch, putBatches)
	h := chunk.NewHasher()
	var out streamed
	var mu sync.Mutex // guards out's counts
	g.Go(func() error {
		// Hash in order, then send: a batch is hashed before the chunker
		// may reuse it, since only a sent batch goes back to free.
		for b := range toHash {
			if digest.IsZero() {
				h.Write(b.plain)
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
		ck := chunkerOf(io.NewSectionReader(r, 0, size))
		defer releaseChunker(ck)
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
				if cap(cur.plain) == 0 {
					cur.plain = make([]byte, 0, min(int64(batchBytes), size)+chunk.DefaultMaxSize)
				}
			}
			cur.add(d, b, seen[d])
			seen[d] = true
			if len(cur.plain) >= batchBytes {
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
	if digest.IsZero() {
		digest = h.Digest()
	}
	out.fh = FileHash{Size: size, Digest: digest, Recipe: recipe}
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
	b.sent = b.sent[:0]
	for i, e := range b.ents {
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
		b.sent = append(b.sent, i)
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
		for _, e := range mine {
			st.SentChunks++
			st.SentBytes += int64(e.ref.Size)
		}
		p.Grow(st.SentBytes)
		err := tr.c.putBatch(ctx, b, mine)
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

// putBatch uploads entries es of b in one request, in chunk's batch
// format; the server checks each against its digest and keeps them with
// one sync. It is idempotent. A node of a release before batches answers
// InvalidDigest (it reads "chunks" with no digest as a bad one): the
// client then sends that node's chunks one request each from then on.
func (c *Client) putBatch(ctx context.Context, b *batch, es []batchEntry) error {
	if !c.noBatches.Load() {
		cl := call{method: http.MethodPost, path: "/v1/chunks", body: b.encode(es), contentType: "application/octet-stream", idempotent: true}
		_, err := c.conn.do(ctx, cl)
		if !olderNode(err) {
			if err != nil {
				return fmt.Errorf("put chunks: %w", err)
			}
			return nil
		}
		c.noBatches.Store(true)
	}
	for _, e := range es {
		if err := c.PutChunk(ctx, e.ref.Digest, b.bytes(e)); err != nil {
			return err
		}
	}
	return nil
}

// olderNode reports whether err is what a node of a release before the
// batched chunk routes answers them: InvalidDigest, for a digest it reads
// as "" or "fetch".
func olderNode(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == "InvalidDigest"
}
