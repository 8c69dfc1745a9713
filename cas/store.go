package cas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Digest is the BLAKE3-256 digest that names chunks and files.
type Digest = chunk.Digest

// Recipe is the ordered list of a file's chunks.
type Recipe = chunk.Recipe

// Ref names one chunk of a recipe.
type Ref = chunk.Ref

// Defaults that Open fills in for zero Options fields.
const (
	DefaultMinSaving        = 0.03
	DefaultValueLogFileSize = 128 << 20
)

// Options configure a Store. The zero value is the default.
type Options struct {
	// MinSaving is the fraction of a chunk's length that zstd must save
	// for the chunk to be stored compressed (default 3%); below it the
	// chunk is stored raw, so reading it costs no decompression.
	MinSaving float64
	// Concurrency is how many goroutines compress and decompress at once
	// (default GOMAXPROCS).
	Concurrency int
	// ValueLogFileSize is the size of Badger's value log files, which hold
	// the chunk payloads. Space is reclaimed a file at a time.
	ValueLogFileSize int64
	// Logger receives the store's and Badger's messages (default
	// slog.Default()).
	Logger *slog.Logger
	// Now is the clock of the touch table that protects chunks in use
	// from Collect (default time.Now); tests inject their own.
	Now func() time.Time
	// MinFreeSpace is how many bytes chunk writes leave free on the
	// store's file system (0: no check). Badger writes its value log
	// through a memory map of a sparse file, so a write that finds the
	// disk full does not fail: the process dies of SIGBUS. Writes that
	// would go below the reserve fail with ErrNoSpace instead, and the
	// reserve is what deletes, Raft and space reclaim still have to work
	// with.
	MinFreeSpace int64
}

// Key layout of the store's Badger database (see docs/format.md).
var (
	keyFormat = []byte("m/format")
	keyStats  = []byte("m/stats")
	keyFlush  = []byte("x/flush") // sentinel dropped to force a memtable flush
)

const (
	prefixChunk = 'c'
	storeFormat = 1
)

func chunkKey(d Digest) []byte {
	k := make([]byte, 1+chunk.DigestSize)
	k[0] = prefixChunk
	copy(k[1:], d[:])
	return k
}

// Store is one node's content-addressed chunk store. It is safe for
// concurrent use. The caller owns it and must Close it.
type Store struct {
	dir     string
	db      *badger.DB
	codec   *codec
	opts    Options
	log     *slog.Logger
	params  chunk.Params
	sync    *syncer
	touches *touches

	bufs   sync.Pool // *[]byte of capacity MaxSize+decodeSlack, for decoded chunks
	blocks sync.Pool // *block, Put's read buffers
	vals   sync.Pool // *[]byte of capacity maxValue, scratch for encoding

	mu       sync.Mutex // serialises chunk writes and deletes with the stats counters
	stats    Stats
	inflight map[Digest]chan struct{} // chunks queued for commit, not yet committed; closed once committed

	// written counts chunk writes committed to Badger; synced is the
	// count the last successful sync covered; writing counts writes in
	// progress, whose chunks may be visible before written counts them.
	written, synced atomic.Uint64
	writing         atomic.Int64

	// deletes counts the Delete calls started and deleting those not
	// finished yet, so that a Put's view can tell whether a chunk it saw
	// may have gone since (see view).
	deletes  atomic.Uint64
	deleting atomic.Int64

	spaceWarned atomic.Int64 // when CheckSpace last logged a refusal (Unix ns)

	// views is held shared while a Put's view uses its transaction, and
	// exclusively by Close around closing the database (see view).
	views sync.RWMutex

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// Stats describe the chunks a store holds.
type Stats struct {
	Chunks       int64 `json:"chunks"`
	LogicalBytes int64 `json:"logical_bytes"` // before compression
	StoredBytes  int64 `json:"stored_bytes"`  // values as stored, header included
}

// Open opens or creates the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.MinSaving == 0 {
		opts.MinSaving = DefaultMinSaving
	}
	if opts.MinSaving < 0 || opts.MinSaving >= 1 {
		return nil, fmt.Errorf("cas: min saving %v outside [0, 1)", opts.MinSaving)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = runtime.GOMAXPROCS(0)
	}
	if opts.ValueLogFileSize == 0 {
		opts.ValueLogFileSize = DefaultValueLogFileSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger.With("component", "cas")
	db, err := badger.Open(badgerOptions(dir, opts, log))
	if err != nil {
		return nil, fmt.Errorf("open badger %s: %w", dir, err)
	}
	c, err := newCodec(opts.MinSaving, opts.Concurrency)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{dir: dir, db: db, codec: c, opts: opts, log: log, params: chunk.DefaultParams(), closed: make(chan struct{})}
	s.sync = newSyncer(func() error {
		n := s.written.Load() // writes committed before the sync starts are covered by it
		if err := db.Sync(); err != nil {
			return err
		}
		for {
			old := s.synced.Load()
			if old >= n || s.synced.CompareAndSwap(old, n) {
				return nil
			}
		}
	})
	s.touches = newTouches(opts.Now)
	s.inflight = map[Digest]chan struct{}{}
	s.blocks.New = func() any { return &block{buf: make([]byte, blockSize)} }
	s.vals.New = func() any { b := make([]byte, 0, maxValue(s.params.MaxSize)); return &b }
	s.bufs.New = func() any { b := make([]byte, 0, s.params.MaxSize+decodeSlack); return &b }
	if err := s.loadMeta(); err != nil {
		c.close()
		db.Close()
		return nil, err
	}
	return s, nil
}

// badgerOptions tunes Badger for chunk payloads: values above 512 bytes
// live in the value log, not the LSM tree, so the tree holds only digests
// and pointers; Badger's own compression is off since chunks arrive
// compressed; value checksums are verified on read; and writes are not
// synced one by one, because Put syncs once per call (see syncer).
func badgerOptions(dir string, opts Options, log *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir).
		WithLogger(BadgerLogger(log)).
		WithValueThreshold(512).
		WithValueLogFileSize(opts.ValueLogFileSize).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithMemTableSize(16 << 20).
		WithNumMemtables(3).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithVerifyValueChecksum(true).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithDetectConflicts(false).
		WithSyncWrites(false).
		WithMetricsEnabled(false)
	return o
}

func (s *Store) loadMeta() error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keyFormat)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			v := []byte{storeFormat, chunk.Format}
			if err := txn.Set(keyFormat, v); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("read format: %w", err)
		default:
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read format: %w", err)
			}
			if len(v) != 2 || v[0] != storeFormat {
				return fmt.Errorf("cas: store format %v not supported (want %d)", v, storeFormat)
			}
		}
		item, err = txn.Get(keyStats)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stats: %w", err)
		}
		return item.Value(func(v []byte) error { return s.stats.unmarshal(v) })
	})
}

// Close waits for background work, closes the database and releases the
// codec. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.views.Lock()
		close(s.closed)
		s.views.Unlock()
		s.wg.Wait()
		err = s.db.Close()
		s.codec.close()
	})
	return err
}

func (s *Store) checkOpen() error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	return s.sync.failed()
}

// Params returns the chunker parameters the store cuts files with.
func (s *Store) Params() chunk.Params { return s.params }

// Has reports whether the store holds chunk d.
func (s *Store) Has(ctx context.Context, d Digest) (bool, error) {
	m, err := s.Missing(ctx, []Digest{d})
	return len(m) == 0, err
}

// Missing returns, in the order given, the digests the store lacks, from
// one consistent view of the store.
//
// Missing touches every digest before it looks: a chunk reported present
// survives Collect for the grace period, so a writer may reference it
// without sending it.
func (s *Store) Missing(ctx context.Context, ds []Digest) ([]Digest, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	s.touches.touch(ds...)
	return s.missing(ctx, ds)
}

// Lacks is Missing without the touch: for garbage collection and
// status, which must not keep the chunks they look at from Collect.
func (s *Store) Lacks(ctx context.Context, ds []Digest) ([]Digest, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	return s.missing(ctx, ds)
}

// missing is Missing without the touch.
func (s *Store) missing(ctx context.Context, ds []Digest) ([]Digest, error) {
	var out []Digest
	err := s.db.View(func(txn *badger.Txn) error {
		for i, d := range ds {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			_, err := txn.Get(chunkKey(d))
			if errors.Is(err, badger.ErrKeyNotFound) {
				out = append(out, d)
				continue
			}
			if err != nil {
				return fmt.Errorf("look up chunk %s: %w", d.Short(), err)
			}
		}
		return nil
	})
	return out, err
}

// PutChunk stores b as chunk d after checking that b hashes to d, and
// syncs before returning. It reports whether the chunk was new.
func (s *Store) PutChunk(ctx context.Context, d Digest, b []byte) (bool, error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	if len(b) > s.params.MaxSize {
		return false, fmt.Errorf("put chunk %s: %w: %d bytes", d.Short(), ErrTooLarge, len(b))
	}
	if got := chunk.Sum(b); got != d {
		return false, fmt.Errorf("put chunk %s: %w: bytes hash to %s", d.Short(), ErrDigestMismatch, got.Short())
	}
	if ok, err := s.Has(ctx, d); err != nil {
		return false, err
	} else if ok {
		// Present, maybe by a writer that has not synced yet: the caller
		// takes the answer to mean "on disk".
		return false, s.SyncWrites()
	}
	v := s.codec.encode(nil, b)
	n, err := s.write(ctx, []pendingChunk{{d: d, value: v, size: len(b)}})
	if err != nil {
		return false, err
	}
	return n.chunks > 0, s.sync.Sync()
}

// GetChunk returns chunk d, verified against its digest.
func (s *Store) GetChunk(ctx context.Context, d Digest) ([]byte, error) {
	return s.getChunk(ctx, d, nil)
}

func (s *Store) getChunk(ctx context.Context, d Digest, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(d))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("get chunk %s: %w", d, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("get chunk %s: %w", d.Short(), err)
		}
		var derr error
		err = item.Value(func(v []byte) error {
			out, derr = s.codec.decode(dst, v, s.params.MaxSize)
			return nil
		})
		if err == nil {
			err = derr
		}
		if err != nil {
			// The value log entry failed Badger's checksum, or the
			// stored form does not decode: the chunk cannot be trusted.
			return &CorruptError{Digest: d, Reason: err.Error()}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if got := chunk.Sum(out); got != d {
		return nil, &CorruptError{Digest: d, Reason: "content hashes to " + got.String()}
	}
	return out, nil
}

// maxValue bounds a chunk's stored form: the codec byte and zstd's
// worst case, or the raw bytes.
func maxValue(maxChunk int) int { return 1 + maxChunk + maxChunk/255 + 64 }

func (s *Store) putVal(b *[]byte) {
	if b != nil && cap(*b) >= maxValue(s.params.MaxSize) {
		*b = (*b)[:0]
		s.vals.Put(b)
	}
}

// getBuf and putBuf recycle decode buffers between chunk reads.
func (s *Store) getBuf() *[]byte { return s.bufs.Get().(*[]byte) }

func (s *Store) putBuf(b *[]byte) {
	if b != nil && cap(*b) >= s.params.MaxSize {
		*b = (*b)[:0]
		s.bufs.Put(b)
	}
}

// Delete removes the given chunks; digests the store lacks are ignored.
// Space comes back when Reclaim rewrites the value log.
func (s *Store) Delete(ctx context.Context, ds ...Digest) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.deleting.Add(1) // before deletes: see view.open
	s.deletes.Add(1)
	defer s.deleting.Add(-1)
	const batch = 1024
	for len(ds) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(batch, len(ds))
		if err := s.deleteBatch(ds[:n]); err != nil {
			return err
		}
		ds = ds[n:]
	}
	return s.sync.Sync()
}

func (s *Store) deleteBatch(ds []Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.stats
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, d := range ds {
		k := chunkKey(d)
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete chunk %s: %w", d.Short(), err)
		}
		var logical int64
		stored := item.ValueSize()
		if err := item.Value(func(v []byte) error {
			n, err := s.codec.logicalSize(v, s.params.MaxSize)
			logical = n
			return err
		}); err != nil {
			// A corrupt value still goes; its logical size is unknown,
			// so take the stored one.
			logical = stored - 1
		}
		if err := txn.Delete(k); err != nil {
			return fmt.Errorf("delete chunk %s: %w", d.Short(), err)
		}
		next.Chunks--
		next.LogicalBytes -= logical
		next.StoredBytes -= stored
	}
	if err := txn.Set(keyStats, next.marshal()); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("delete chunks: %w", err)
	}
	s.stats = next
	return nil
}

type pendingChunk struct {
	d     Digest
	value []byte // stored form
	size  int    // logical length
}

type written struct {
	chunks      int
	logical     int64
	storedBytes int64
}

// write stores the chunks that are not present yet in one transaction,
// together with the updated counters, without syncing. The check for
// presence and the queueing of the commit happen under s.mu, so commits
// reach Badger in the order the counters were computed; the wait for the
// commit happens outside it, so that concurrent writers share Badger's
// write batches. Chunks queued but not committed yet are in s.inflight,
// so no two writers store (and count) the same new chunk; a writer that
// leaves a chunk to another waits for that commit before it returns, so
// that the sync its caller runs next covers the chunk too.
func (s *Store) write(ctx context.Context, cs []pendingChunk) (written, error) {
	var w written
	if err := ctx.Err(); err != nil {
		return w, err
	}
	var size int64
	for _, c := range cs {
		size += int64(len(c.value))
	}
	if err := s.CheckSpace(size); err != nil {
		return w, err
	}
	var others []chan struct{} // commits of other writers this one counts on
	defer func() {
		for _, c := range others {
			<-c
		}
	}()
	s.mu.Lock()
	txn := s.db.NewTransaction(true)
	var queued []Digest
	for _, c := range cs {
		if ch, ok := s.inflight[c.d]; ok {
			others = append(others, ch) // another writer is storing it right now
			continue
		}
		k := chunkKey(c.d)
		if _, err := txn.Get(k); err == nil {
			continue // another writer stored it since we looked
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			s.mu.Unlock()
			txn.Discard()
			return w, fmt.Errorf("look up chunk %s: %w", c.d.Short(), err)
		}
		if err := txn.Set(k, c.value); err != nil {
			s.mu.Unlock()
			txn.Discard()
			return w, fmt.Errorf("write chunk %s: %w", c.d.Short(), err)
		}
		queued = append(queued, c.d)
		w.chunks++
		w.logical += int64(c.size)
		w.storedBytes += int64(len(c.value))
	}
	if w.chunks == 0 {
		s.mu.Unlock()
		txn.Discard()
		return w, nil
	}
	s.stats.Chunks += int64(w.chunks)
	s.stats.LogicalBytes += w.logical
	s.stats.StoredBytes += w.storedBytes
	if err := txn.Set(keyStats, s.stats.marshal()); err != nil {
		s.mu.Unlock()
		txn.Discard()
		return w, s.fail(fmt.Errorf("write stats: %w", err))
	}
	committed := make(chan struct{})
	for _, d := range queued {
		s.inflight[d] = committed
	}
	done := make(chan error, 1)
	s.writing.Add(1)
	txn.CommitWith(func(err error) { done <- err })
	s.mu.Unlock()
	err := <-done
	if err == nil {
		s.written.Add(1)
	}
	s.writing.Add(-1)
	s.mu.Lock()
	for _, d := range queued {
		delete(s.inflight, d)
	}
	close(committed)
	s.mu.Unlock()
	if err != nil {
		// The counters already include these chunks: the store can no
		// longer vouch for them.
		return w, s.fail(fmt.Errorf("write chunks: %w", err))
	}
	return w, nil
}

// SyncWrites returns once every chunk written before the call is on disk.
// It syncs only when some write is not covered by a finished sync yet: a
// caller about to say that it holds some chunks (to a peer counting
// copies, or before committing a file made of them) calls it, since a
// chunk another writer stored a moment ago may still be waiting for that
// writer's sync.
func (s *Store) SyncWrites() error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	// A write whose chunks a caller saw has either finished, and is in
	// written, or is still counted in writing: read writing first.
	if s.writing.Load() == 0 && s.synced.Load() >= s.written.Load() {
		return s.sync.failed()
	}
	return s.sync.Sync()
}

// fail marks the store failed and returns err wrapped in ErrFailed.
func (s *Store) fail(err error) error { return s.sync.setFailed(err) }

// Stats returns the store's counters.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	if err := s.checkOpen(); err != nil {
		return Stats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats, nil
}

// DiskUsage returns the bytes Badger's files take in the store's folder:
// the LSM tree and the value log.
func (s *Store) DiskUsage() (lsm, vlog int64) { return s.db.Size() }

func (st Stats) marshal() []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen64)
	b = binary.AppendVarint(b, st.Chunks)
	b = binary.AppendVarint(b, st.LogicalBytes)
	return binary.AppendVarint(b, st.StoredBytes)
}

func (st *Stats) unmarshal(b []byte) error {
	for _, p := range []*int64{&st.Chunks, &st.LogicalBytes, &st.StoredBytes} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return errors.New("cas: stats record does not decode")
		}
		*p, b = v, b[n:]
	}
	return nil
}

// GetStored returns chunk d in its stored form (codec byte and payload),
// as PutStored takes it: peers pass chunks this way so that a chunk is
// compressed once, by the node that took the write.
func (s *Store) GetStored(ctx context.Context, d Digest) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(d))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("get chunk %s: %w", d, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("get chunk %s: %w", d.Short(), err)
		}
		out, err = item.ValueCopy(nil)
		if err != nil {
			return &CorruptError{Digest: d, Reason: err.Error()}
		}
		return nil
	})
	return out, err
}

// PutStored stores a chunk given in its stored form; see PutStoredBatch.
func (s *Store) PutStored(ctx context.Context, d Digest, v []byte) (bool, error) {
	n, err := s.PutStoredBatch(ctx, []StoredChunk{{Digest: d, Value: v}})
	return n > 0, err
}

// StoredChunk is a chunk in its stored form: codec byte and payload.
type StoredChunk struct {
	Digest Digest
	Value  []byte
}

// PutStoredBatch stores chunks given in their stored form, after decoding
// each and checking that it hashes to its digest, with one sync for the
// batch. Nothing is stored when one of them is wrong. It returns how many
// were new.
func (s *Store) PutStoredBatch(ctx context.Context, cs []StoredChunk) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	digests := make([]Digest, len(cs))
	for i, c := range cs {
		digests[i] = c.Digest
	}
	missing, err := s.Missing(ctx, digests)
	if err != nil {
		return 0, err
	}
	need := make(map[Digest]bool, len(missing))
	for _, d := range missing {
		need[d] = true
	}
	var pending []pendingChunk
	var buf []byte
	for _, c := range cs {
		b, err := s.codec.decode(buf[:0], c.Value, s.params.MaxSize)
		if err != nil {
			return 0, fmt.Errorf("put chunk %s: %w: %v", c.Digest.Short(), ErrDigestMismatch, err)
		}
		buf = b
		if got := chunk.Sum(b); got != c.Digest {
			return 0, fmt.Errorf("put chunk %s: %w: bytes hash to %s", c.Digest.Short(), ErrDigestMismatch, got.Short())
		}
		if need[c.Digest] {
			pending = append(pending, pendingChunk{d: c.Digest, value: c.Value, size: len(b)})
			need[c.Digest] = false
		}
	}
	if len(pending) == 0 {
		// All present, maybe by a writer that has not synced yet: the
		// caller takes success to mean "on disk".
		return 0, s.SyncWrites()
	}
	w, err := s.write(ctx, pending)
	if err != nil {
		return 0, err
	}
	return w.chunks, s.sync.Sync()
}
