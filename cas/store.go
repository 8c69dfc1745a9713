package cas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
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
	DefaultInlineMax        = 8 << 10
	DefaultPackSize         = 128 << 20
	DefaultCompactLevel     = 3
	DefaultCompactFrame     = 4 << 20
	DefaultCompactIdle      = 200 * time.Millisecond
	DefaultCacheSize        = 32 << 20
	DefaultGarbageRatio     = 0.5
)

// Options configure a Store. The zero value is the default.
type Options struct {
	// MinSaving is the fraction of a chunk's length that compression must
	// save for the chunk to be stored compressed (default 3%); below it
	// the chunk is stored raw, so reading it costs no decompression.
	MinSaving float64
	// Concurrency is how many goroutines compress and decompress at once
	// (default GOMAXPROCS).
	Concurrency int
	// ValueLogFileSize is the size of Badger's value log files, which hold
	// the chunk payloads of stores written by format 1 until the
	// compactor has moved them into pack files.
	ValueLogFileSize int64
	// InlineMax is the largest stored form kept inline in the index
	// (default 8 KiB): such chunks are written with one sync. Larger ones
	// go to pack files.
	InlineMax int
	// PackSize is the size past which a pack file takes no more appends
	// (default 128 MiB). Space is given back a pack at a time.
	PackSize int64
	// CompactLevel is the zstd level the compactor encodes with: 1
	// fastest, 2 default, 3 better, 4 best (default 3, see
	// docs/benchmarks.md).
	CompactLevel int
	// CompactFrame is how many bytes of chunks the compactor encodes
	// together in one zstd frame (default 4 MiB): larger frames compress
	// better, and a read of one chunk decodes its whole frame.
	CompactFrame int
	// CompactIdle is how long the store must have had no foreground work
	// (puts, reads) before the compactor runs (default 200 ms).
	CompactIdle time.Duration
	// NoCompactor leaves chunks in the form they were written in until
	// Compact is called.
	NoCompactor bool
	// RawWhenBusy stores new chunks raw instead of in S2 while every core
	// of the machine is busy (sampled every 100 ms, Linux only): S2
	// would then take CPU from the requests themselves, and the compactor
	// encodes raw chunks into zstd frames as it does S2 ones, once the
	// machine has CPU to spare. The price is disk bytes written in the
	// meantime (about twice for JSON boosters).
	RawWhenBusy bool
	// GarbageRatio is the fraction of a pack file that must be garbage
	// for the compactor to rewrite it and give the space back (default
	// 0.5).
	GarbageRatio float64
	// CacheSize is how many bytes of decoded chunks the store keeps in
	// memory for reads (default 32 MiB; negative: none). A read of a chunk
	// in a solid frame decodes the frame and keeps its chunks here.
	CacheSize int64
	// Logger receives the store's and Badger's messages (default
	// slog.Default()).
	Logger *slog.Logger
	// Now is the clock of the touch table that protects chunks in use
	// from Collect (default time.Now); tests inject their own.
	Now func() time.Time
	// MinFreeSpace is how many bytes chunk writes leave free on the
	// store's file system (0: no check). Writes that would go below the
	// reserve fail with ErrNoSpace, and the reserve is what deletes, Raft
	// and space reclaim still have to work with.
	MinFreeSpace int64

	// hook, in tests, is called at each step of the compactor's commit
	// (see compact.go): a test kills the process there.
	hook func(step string)
	// anyLoad, in tests, lets the compactor work whatever other processes
	// do with the CPU (the machines tests run on are shared).
	anyLoad bool
	// busyCPU, in tests, makes the compactor see every core taken by other
	// processes.
	busyCPU bool
	// rawNew, in benchmarks, stores new chunks raw instead of in S2.
	rawNew bool
	// fullCPU, in tests, makes every core look busy to RawWhenBusy.
	fullCPU bool
}

// Key layout of the store's Badger database (see docs/format.md).
var (
	keyFormat = []byte("m/format")
	keyStats  = []byte("m/stats")
	keyFlush  = []byte("x/flush") // sentinel dropped to force a memtable flush
)

const (
	prefixChunk = 'c'
	// storeFormat 2 adds pack files; a format 1 store is upgraded in place
	// when opened (its inline chunks stay readable, and the compactor
	// moves them into packs).
	storeFormat = 2
)

func chunkKey(d Digest) []byte {
	k := make([]byte, 1+chunk.DigestSize)
	k[0] = prefixChunk
	copy(k[1:], d[:])
	return k
}

// Store is one node's content-addressed chunk store. It is safe for
// concurrent use. The caller owns it and must Close it, which also stops
// the compactor that Open started.
type Store struct {
	dir      string
	db       *badger.DB
	packs    *packSet
	codec    *codec
	opts     Options
	log      *slog.Logger
	params   chunk.Params
	sync     *syncer // syncs the index (Badger)
	dataSync *syncer // syncs the pack files
	touches  *touches
	act      activity
	cpu      cpuMeter

	mu       sync.Mutex // serialises index writes and deletes with the counters and packs' live counts
	ctr      counters
	inflight map[Digest]*claim // chunks queued for commit, not yet committed

	// written counts index commits; synced is the count the last
	// successful index sync covered; writing counts commits in progress,
	// whose chunks may be visible before written counts them.
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

	wr   *writer    // the write path: batches, group commit, Put's pipeline
	rd   *reader    // the read path: lookups, shared frame decodes, the cache
	bp   *pools     // buffers shared by both
	heat heat       // chunks reads used since Cold last ran
	cmp  *compactor // re-encodes chunks at rest and gives back garbage

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

// Open opens or creates the store in dir, and starts its compactor
// unless Options.NoCompactor is set.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.fill(); err != nil {
		return nil, err
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
	c.raw = opts.rawNew
	ps, err := openPacks(filepath.Join(dir, "packs"), opts.PackSize)
	if err != nil {
		c.close()
		db.Close()
		return nil, err
	}
	s := &Store{dir: dir, db: db, packs: ps, codec: c, opts: opts, log: log, params: chunk.DefaultParams(),
		closed: make(chan struct{})}
	s.cmp = newCompactor(s)
	s.sync = newSyncer(func() error {
		n := s.written.Load() // commits before the sync starts are covered by it
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
	s.dataSync = newSyncer(ps.syncAll)
	s.touches = newTouches(opts.Now)
	s.inflight = map[Digest]*claim{}
	s.wr = &writer{s: s}
	s.wr.commits = newCommitter(s)
	s.rd = newReader(s, opts)
	s.bp = newPools(s.params.MaxSize, opts.CompactFrame)
	if err := s.loadMeta(); err != nil {
		ps.close()
		c.close()
		db.Close()
		return nil, err
	}
	s.cmp.vlogDirty = s.ctr.legacyChunks > 0
	if !opts.NoCompactor {
		s.wg.Add(1)
		go s.cmp.loop()
	}
	return s, nil
}

func (o *Options) fill() error {
	if o.MinSaving == 0 {
		o.MinSaving = DefaultMinSaving
	}
	if o.MinSaving < 0 || o.MinSaving >= 1 {
		return fmt.Errorf("cas: min saving %v outside [0, 1)", o.MinSaving)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.ValueLogFileSize == 0 {
		o.ValueLogFileSize = DefaultValueLogFileSize
	}
	if o.InlineMax == 0 {
		o.InlineMax = DefaultInlineMax
	}
	if o.InlineMax < 0 || o.InlineMax > 64<<10 {
		return fmt.Errorf("cas: inline max %d outside [0, 64 KiB]", o.InlineMax)
	}
	if o.PackSize == 0 {
		o.PackSize = DefaultPackSize
	}
	if o.CompactLevel == 0 {
		o.CompactLevel = DefaultCompactLevel
	}
	if o.CompactLevel < 1 || o.CompactLevel > 4 {
		return fmt.Errorf("cas: compact level %d outside 1..4", o.CompactLevel)
	}
	if o.CompactFrame == 0 {
		o.CompactFrame = DefaultCompactFrame
	}
	if o.CompactFrame < chunk.DefaultMaxSize || o.CompactFrame > 64<<20 {
		return fmt.Errorf("cas: compact frame %d outside [%d, 64 MiB]", o.CompactFrame, chunk.DefaultMaxSize)
	}
	if o.CompactIdle == 0 {
		o.CompactIdle = DefaultCompactIdle
	}
	if o.GarbageRatio == 0 {
		o.GarbageRatio = DefaultGarbageRatio
	}
	if o.GarbageRatio <= 0 || o.GarbageRatio >= 1 {
		return fmt.Errorf("cas: garbage ratio %v outside (0, 1)", o.GarbageRatio)
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// memTableSize is the size of the index's Badger memtables; up to three
// are held while full ones wait to be flushed.
const memTableSize = 16 << 20

// badgerOptions tunes Badger as the index: values up to InlineMax (small
// chunks, and the locations of chunks in packs) stay in the LSM tree, so
// nothing new goes to the value log, which only format 1 stores used;
// Badger's own compression is off since chunks arrive compressed; value
// checksums are verified on read; and writes are not synced one by one,
// because writers sync once per call (see syncer).
func badgerOptions(dir string, opts Options, log *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir).
		WithLogger(BadgerLogger(log)).
		WithValueThreshold(int64(opts.InlineMax) + 1).
		WithValueLogFileSize(opts.ValueLogFileSize).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithMemTableSize(memTableSize).
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

// Close stops the compactor and waits for it and other background work,
// then closes the database and the pack files. It is safe to call more
// than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.views.Lock()
		close(s.closed)
		s.views.Unlock()
		s.wg.Wait()
		err = s.db.Close()
		s.packs.close()
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

// SyncWrites returns once every chunk written before the call is on disk.
// It syncs only when some write is not covered by a finished sync yet: a
// caller about to say that it holds some chunks (to a peer counting
// copies, or before committing a file made of them) calls it, since a
// chunk another writer stored a moment ago may still be waiting for that
// writer's sync. (A chunk's bytes in a pack are synced before its index
// entry is written; it is the index entry that may wait.)
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
	return s.ctr.Stats, nil
}

// DiskUsage returns the bytes the store's files take in its folder: the
// index (Badger's LSM tree) and the values (Badger's value log, which only
// format 1 stores fill, and the pack files).
func (s *Store) DiskUsage() (lsm, values int64) {
	lsm, vlog := s.db.Size()
	return lsm, vlog + s.packs.bytes()
}
