package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"cairn/cas/chunk"
)

// PutResult describes a file that Put stored.
type PutResult struct {
	Digest Digest // BLAKE3-256 of the whole content
	Size   int64
	Recipe Recipe
	// NewChunks and NewBytes count the chunks this call added and their
	// uncompressed length; StoredBytes is what they take in the store.
	NewChunks   int
	NewBytes    int64
	StoredBytes int64
}

// block is a buffer that Put reads its input into. Chunks travel through
// the pipeline as slices of a block, and the block goes back to the pool
// when the last of them is done with it.
type block struct {
	buf  []byte
	refs atomic.Int32
}

// blockSize is the size of Put's read buffers: a few MiB, so that the
// tail copied when a block is replaced (under one maximum chunk) is small
// next to what the block held.
const blockSize = 4 << 20

// PutMemory bounds the memory a Put of length bytes (-1: unknown) holds at
// once: the read blocks its chunks in flight pin and their stored forms.
// A caller that stores many files at once sizes its window by it.
func (s *Store) PutMemory(length int64) int64 {
	inflight := int64(8*s.opts.Concurrency + 4)
	maxChunk := int64(s.params.MaxSize)
	blocks := (inflight*maxChunk+blockSize-1)/blockSize + 2
	bound := blocks*blockSize + inflight*(maxChunk+maxChunk/255+64)
	switch {
	case length < 0 || length >= bound:
		return bound
	case length <= int64(s.params.MinSize):
		return 2*length + 64<<10
	default:
		return min(bound, blockSize+2*length)
	}
}

// putJob is one chunk travelling through Put's pipeline.
type putJob struct {
	seq    int
	blk    *block
	buf    []byte // the chunk: a slice of blk
	d      Digest
	value  []byte // stored form, when the chunk is new here
	err    error
	exists bool
}

// Flush thresholds for Put's writer: a transaction holds at most this many
// new chunks or bytes.
const (
	flushChunks = 32
	flushBytes  = 2 << 20
)

// Put reads r to its end, splits it into content-defined chunks, stores
// the chunks that are new (compressed when that pays), syncs, and returns
// the file's digest and recipe. Memory stays bounded by a few chunks per
// worker whatever the length of r. Chunking, hashing and compression run
// concurrently: the caller's goroutine cuts chunks, Concurrency workers
// hash and compress them, and a writer hashes the whole file in order and
// commits the new chunks.
func (s *Store) Put(ctx context.Context, r io.Reader) (PutResult, error) {
	return s.PutWith(ctx, r, PutOptions{})
}

// PutOptions change how PutWith stores a file.
type PutOptions struct {
	// Committed, if set, is called with each batch of new chunks in their
	// stored form as soon as they are written to the store's files, before
	// the syncs that end the Put: a replicating caller can start sending
	// them to peers while the rest of the file is still being cut and
	// compressed.
	// The slices are valid only during the call, which holds up the
	// next batch: it should copy them and return.
	Committed func([]StoredChunk)
	// Hash, if set, is written the whole content in order (by Put's own
	// goroutine that hashes the file, where the bytes are at hand without
	// a copy): a caller that needs another digest of the file, such as
	// S3's MD5, gets it without reading the content a second time.
	Hash io.Writer
}

// PutWith is Put with options.
func (s *Store) PutWith(ctx context.Context, r io.Reader, opts PutOptions) (PutResult, error) {
	if err := s.checkOpen(); err != nil {
		return PutResult{}, err
	}
	defer s.act.begin()()
	// A file no longer than the minimum chunk is one chunk: store it
	// inline, without the pipeline's goroutines.
	head := make([]byte, s.params.MinSize+1)
	n, err := io.ReadFull(r, head)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return s.wr.putSmall(ctx, head[:n], opts)
	case err != nil:
		return PutResult{}, fmt.Errorf("put: read: %w", err)
	}
	r = io.MultiReader(bytes.NewReader(head), r)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := s.opts.Concurrency
	inflight := 8*workers + 4
	pool := &s.bp.blocks
	slots := make(chan struct{}, inflight)
	jobs := make(chan *putJob, inflight)
	results := make(chan *putJob, inflight)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			v := s.newView()
			defer v.close()
			idle := time.NewTimer(viewIdle)
			defer idle.Stop()
			for {
				idle.Reset(viewIdle)
				var j *putJob
				var ok bool
				select {
				case j, ok = <-jobs:
				case <-idle.C:
					// The body stalls: drop the view rather than hold
					// back Badger's discarding of old versions (and
					// Reclaim) for as long as the client takes.
					v.close()
					j, ok = <-jobs
				}
				if !ok {
					return
				}
				s.wr.prepare(ctx, j, v)
				results <- j
			}
		})
	}
	go func() { wg.Wait(); close(results) }()

	var res PutResult
	writerDone := make(chan error, 1)
	go func() { writerDone <- s.wr.collect(ctx, cancel, results, slots, pool, &res, opts) }()

	readErr := s.wr.split(ctx, r, jobs, slots, pool)
	close(jobs)
	if readErr != nil {
		cancel()
	}
	werr := <-writerDone
	if err := errors.Join(readErr, werr); err != nil {
		return PutResult{}, fmt.Errorf("put: %w", firstCause(readErr, werr))
	}
	// The Put's own chunks are durable; those other writers stored, or
	// that it found present, may wait for their writers' sync.
	if err := s.SyncWrites(); err != nil {
		return PutResult{}, fmt.Errorf("put: %w", err)
	}
	return res, nil
}

// putSmall stores a file of at most one chunk.
func (wr *writer) putSmall(ctx context.Context, b []byte, opts PutOptions) (PutResult, error) {
	s := wr.s
	res := PutResult{Digest: chunk.Sum(b), Size: int64(len(b))}
	if opts.Hash != nil {
		opts.Hash.Write(b)
	}
	if len(b) == 0 {
		return res, nil
	}
	d := res.Digest // a one-chunk file's digest is its chunk's
	res.Recipe = Recipe{{Digest: d, Size: uint32(len(b))}}
	ok, err := s.Has(ctx, d)
	if err != nil {
		return PutResult{}, fmt.Errorf("put: %w", err)
	}
	if !ok {
		c := pendingChunk{d: d, value: s.encodeNew(nil, b), size: len(b)}
		w, err := wr.write(ctx, []pendingChunk{c})
		if err != nil {
			return PutResult{}, fmt.Errorf("put: %w", err)
		}
		res.NewChunks, res.NewBytes, res.StoredBytes = w.chunks, w.logical, w.storedBytes
		if opts.Committed != nil && w.chunks > 0 {
			opts.Committed([]StoredChunk{{Digest: d, Value: c.value}})
		}
		return res, nil
	}
	// Present, maybe by a writer that has not synced yet.
	if err := s.SyncWrites(); err != nil {
		return PutResult{}, fmt.Errorf("put: %w", err)
	}
	return res, nil
}

func firstCause(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// split reads r into blocks, cuts them into chunks and hands the chunks
// to the workers, waiting for a free slot before each, so at most
// cap(slots) chunks are in flight. Boundaries are cut with at least a
// maximum chunk of input in view (or the rest of the stream), so they do
// not depend on how r splits its reads.
func (wr *writer) split(ctx context.Context, r io.Reader, jobs chan<- *putJob, slots chan struct{}, pool *sync.Pool) error {
	s := wr.s
	newBlock := func() *block {
		b := pool.Get().(*block)
		b.refs.Store(1) // split's own reference
		return b
	}
	cur := newBlock()
	defer func() { release(cur, pool) }()
	start, end, eof := 0, 0, false
	for seq := 0; ; seq++ {
		if end-start < s.params.MaxSize && !eof {
			if start > 0 {
				next := newBlock()
				end = copy(next.buf, cur.buf[start:end])
				start = 0
				release(cur, pool)
				cur = next
			}
			for end < len(cur.buf) && !eof {
				n, err := r.Read(cur.buf[end:])
				end += n
				if errors.Is(err, io.EOF) {
					eof = true
				} else if err != nil {
					return fmt.Errorf("read: %w", err)
				}
			}
		}
		if start == end {
			return nil
		}
		n := s.params.Cut(cur.buf[start:end])
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		cur.refs.Add(1)
		jobs <- &putJob{seq: seq, blk: cur, buf: cur.buf[start : start+n : start+n]}
		start += n
	}
}

func release(b *block, pool *sync.Pool) {
	if b.refs.Add(-1) == 0 {
		pool.Put(b)
	}
}

// prepare hashes a chunk and, when the store lacks it, compresses it.
func (wr *writer) prepare(ctx context.Context, j *putJob, v *view) {
	s := wr.s
	if err := ctx.Err(); err != nil {
		j.err = err
		return
	}
	j.d = chunk.Sum(j.buf)
	ok, err := v.has(ctx, j.d)
	if err != nil {
		j.err = err
		return
	}
	if ok {
		j.exists = true
		return
	}
	// Encode into a scratch buffer big enough for zstd's worst case, then
	// keep an exact copy: a chunk waiting to be committed holds only its
	// stored bytes (a pooled buffer per chunk in flight would pin ten
	// times more memory).
	scratch := s.bp.vals.Get().(*[]byte)
	*scratch = s.encodeNew((*scratch)[:0], j.buf)
	j.value = append(make([]byte, 0, len(*scratch)), *scratch...)
	s.bp.putVal(scratch)
}

// collect receives prepared chunks, puts them back in order, hashes the
// whole file, builds the recipe and commits new chunks in batches.
func (wr *writer) collect(ctx context.Context, fail context.CancelFunc, results <-chan *putJob, slots chan struct{}, pool *sync.Pool, res *PutResult, opts PutOptions) error {
	h := chunk.NewHasher()
	waiting := make(map[int]*putJob)
	next := 0
	var firstErr error
	// Batches of new chunks are committed by their own goroutine, so that
	// hashing the file in order goes on while Badger writes; one batch
	// waits at most, which bounds the memory they hold.
	batches := make(chan []pendingChunk, 1)
	committed := make(chan error, 1)
	go func() { committed <- wr.commitBatches(ctx, fail, batches, res, opts.Committed) }()
	var pending []pendingChunk
	var pendingBytes int
	flush := func() {
		if len(pending) > 0 && firstErr == nil {
			batches <- pending
		}
		pending, pendingBytes = nil, 0
	}
	for j := range results {
		waiting[j.seq] = j
		for {
			j, ok := waiting[next]
			if !ok {
				break
			}
			delete(waiting, next)
			next++
			if j.err != nil && firstErr == nil {
				firstErr = j.err
				fail()
			}
			if firstErr == nil {
				h.Write(j.buf)
				if opts.Hash != nil {
					opts.Hash.Write(j.buf)
				}
				res.Size += int64(len(j.buf))
				res.Recipe = append(res.Recipe, Ref{Digest: j.d, Size: uint32(len(j.buf))})
				if j.value != nil {
					pending = append(pending, pendingChunk{d: j.d, value: j.value, size: len(j.buf)})
					pendingBytes += len(j.value)
				}
			}
			release(j.blk, pool)
			<-slots
			if len(pending) >= flushChunks || pendingBytes >= flushBytes {
				flush()
			}
		}
	}
	flush()
	close(batches)
	// A failed commit cancels the workers, whose chunks then carry the
	// cancellation: the commit's error is the cause to report.
	if err := <-committed; err != nil && (firstErr == nil || errors.Is(firstErr, context.Canceled)) {
		firstErr = err
	}
	if firstErr != nil {
		return firstErr
	}
	res.Digest = h.Digest()
	return nil
}

// putFlush is how many stored bytes a Put appends to packs before it
// syncs them and commits their index entries, which bounds the claims and
// the unsynced bytes one Put holds; smaller files sync once, at the end.
const putFlush = 64 << 20

// commitBatches writes the batches it receives until the channel closes:
// each batch's new chunks are claimed and appended to the hot pack as it
// comes; their index entries are committed after the pack is synced, every
// putFlush bytes and at the end. After the first failure it drops the
// rest, and gives up the chunks it claimed.
func (wr *writer) commitBatches(ctx context.Context, fail context.CancelFunc, batches <-chan []pendingChunk, res *PutResult, committed func([]StoredChunk)) error {
	s := wr.s
	var err error
	var stored []StoredChunk
	var held []*writeBatch // appended, not committed
	var waits []claimWait
	heldBytes := 0
	flush := func() error {
		if len(held) == 0 {
			return nil
		}
		bs := held
		held, heldBytes = nil, 0
		err := s.wr.commits.commit(bs...)
		for _, b := range bs {
			res.NewChunks += b.w.chunks
			res.NewBytes += b.w.logical
			res.StoredBytes += b.w.storedBytes
		}
		return err
	}
	for batch := range batches {
		if err != nil {
			continue
		}
		var b *writeBatch
		if b, err = wr.reserve(ctx, batch); err == nil {
			if err = wr.appendPacked(b); err != nil {
				wr.release(b, false)
			}
		}
		if err != nil {
			fail()
			continue
		}
		held = append(held, b)
		waits = append(waits, b.waits...)
		for _, c := range b.chunks {
			heldBytes += len(c.value)
		}
		if committed != nil && len(b.chunks) > 0 {
			stored = stored[:0]
			for _, c := range b.chunks {
				stored = append(stored, StoredChunk{Digest: c.d, Value: c.value})
			}
			committed(stored)
		}
		// The packed chunks' bytes are in the pack now: holding them until
		// the commit would hold putFlush bytes of memory.
		b.dropPacked()
		if heldBytes >= putFlush {
			if err = flush(); err != nil {
				fail()
			}
		}
	}
	if err != nil {
		for _, b := range held {
			wr.release(b, false)
		}
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	w, err := wr.settle(ctx, waits)
	res.NewChunks += w.chunks
	res.NewBytes += w.logical
	res.StoredBytes += w.storedBytes
	return err
}
