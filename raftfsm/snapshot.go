package raftfsm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/zstd"
)

// Snapshot stream format (docs/format.md): the magic "CAIRNFSM", a format
// byte, the applied index and term (8 bytes each, big-endian); then every
// state key and value in key order, each as uvarint length and bytes; then
// a zero key length; then the BLAKE3-256 of everything before it. In
// format 2 everything after the header is one zstd stream; the digest is
// still that of the uncompressed bytes, header included.
const (
	snapMagic  = "CAIRNFSM"
	snapPlain  = 1
	snapZstd   = 2
	maxSnapKey = 4 << 10
	maxSnapVal = 64 << 20
	// snapWindow bounds the zstd window of a snapshot, and so the memory
	// a restore may be made to spend on one; snapshots are written with a
	// window of snapWriteWindow, which compresses the state as well (its
	// repeats are the prefixes of neighbouring keys) in half the memory.
	snapWindow      = 8 << 20
	snapWriteWindow = 1 << 20
)

// FeatureZstdSnapshot is the feature that lets a node write its snapshots
// (and backups) in format 2. Nodes of a release before it cannot read
// them, so it waits until every member knows it.
const FeatureZstdSnapshot = "zstd-snapshot"

var errSnapshotCorrupt = errors.New("raftfsm: snapshot stream corrupt")

// snapshot is a point-in-time view of the state: a Badger read
// transaction, opened by Snapshot between two applies. It holds the
// state's read lock until released, so a Restore cannot close the
// database under it.
type snapshot struct {
	f        *fsm
	t        *badger.Txn
	index    uint64
	term     uint64
	version  byte // snapPlain or snapZstd
	released bool
}

// Snapshot implements raft.FSM. It only opens a read transaction; the
// work happens in Persist, while applies continue.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	// A failed state misses entries Raft believes applied: a snapshot of
	// it would let Raft compact them away and ship the gap to followers.
	if err := f.err(); err != nil {
		return nil, err
	}
	f.mu.RLock()
	if f.db == nil {
		f.mu.RUnlock()
		return nil, ErrClosed
	}
	// Raft may compact its log up to this snapshot: the state it captures
	// must be on disk first.
	if err := f.db.Sync(); err != nil {
		f.mu.RUnlock()
		return nil, fmt.Errorf("sync state before snapshot: %w", err)
	}
	t := f.db.NewTransaction(false)
	// The applied index comes from the same view as the state, so the
	// snapshot is consistent even when taken outside Raft's FSM goroutine.
	index, term, err := appliedIn(t)
	if err != nil {
		t.Discard()
		f.mu.RUnlock()
		return nil, err
	}
	version := byte(snapPlain)
	if _, found, err := (&txn{t: t}).getRaw(key(tFeature, FeatureZstdSnapshot)); err != nil {
		t.Discard()
		f.mu.RUnlock()
		return nil, err
	} else if found {
		version = snapZstd
	}
	return &snapshot{f: f, t: t, index: index, term: term, version: version}, nil
}

func appliedIn(t *badger.Txn) (index, term uint64, err error) {
	item, err := t.Get([]byte{tApplied})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	err = item.Value(func(v []byte) error {
		if len(v) != 16 {
			return fmt.Errorf("applied index record of %d bytes", len(v))
		}
		index, term = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
		return nil
	})
	return index, term, err
}

// Persist streams the state to sink, cancelling the sink on error.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	cw := &countingWriter{w: sink}
	if err := s.write(cw); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot at %d: %w", s.index, err)
	}
	if err := sink.Close(); err != nil {
		return err
	}
	s.f.pacing.snapshotted(cw.n)
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *snapshot) write(w io.Writer) error {
	h := chunk.NewHasher()
	hdr := append([]byte(snapMagic), s.version)
	hdr = binary.BigEndian.AppendUint64(hdr, s.index)
	hdr = binary.BigEndian.AppendUint64(hdr, s.term)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	h.Write(hdr)
	body := w
	var zw *zstd.Encoder
	if s.version == snapZstd {
		var err error
		// The fastest level: the state's keys repeat their prefixes, which
		// it finds all the same (about 8x on MLflow's layout), at about
		// 450 MB/s of one core. Two blocks at once, so that compressing
		// one overlaps reading the state for the next.
		zw, err = zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(2),
			zstd.WithWindowSize(snapWriteWindow))
		if err != nil {
			return err
		}
		defer zw.Close()
		body = zw
	}
	bw := bufio.NewWriterSize(io.MultiWriter(body, h), 1<<20)
	it := s.t.NewIterator(badger.DefaultIteratorOptions)
	defer it.Close()
	var lenBuf []byte
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if len(k) == 1 && k[0] == tApplied {
			continue // the header carries it
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		lenBuf = binary.AppendUvarint(lenBuf[:0], uint64(len(k)))
		bw.Write(lenBuf)
		bw.Write(k)
		lenBuf = binary.AppendUvarint(lenBuf[:0], uint64(len(v)))
		bw.Write(lenBuf)
		if _, err := bw.Write(v); err != nil {
			return err
		}
	}
	bw.WriteByte(0)
	if err := bw.Flush(); err != nil {
		return err
	}
	sum := h.Digest()
	if _, err := body.Write(sum[:]); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() { s.Close() }

// Close ends the read transaction and releases the state lock.
func (s *snapshot) Close() error {
	if !s.released {
		s.released = true
		s.t.Discard()
		s.f.mu.RUnlock()
	}
	return nil
}

// Restore implements raft.FSM: it builds the state of the stream in a new
// folder, checks the stream's digest, and only then swaps it in for the
// old state, which it deletes. A failed restore leaves the old state.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.RLock()
	next := nextStateName(f.current)
	f.mu.RUnlock()
	path := filepath.Join(f.dir, next)
	os.RemoveAll(path)
	db, err := openStateDB(path, f.log)
	if err != nil {
		return err
	}
	cr := &countingReader{r: rc}
	index, term, err := readSnapshot(cr, db)
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		db.Close()
		os.RemoveAll(path)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.mu.Lock()
	old, oldName := f.db, f.current
	if err := writeCurrent(f.dir, next); err != nil {
		f.mu.Unlock()
		db.Close()
		os.RemoveAll(path)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.db, f.current = db, next
	f.written.Store(MemtableRelease) // the whole state went through its memtables
	f.mu.Unlock()
	if old != nil {
		old.Close()
	}
	os.RemoveAll(filepath.Join(f.dir, oldName))
	f.settle(func() { f.applied, f.term, f.failed = index, term, nil })
	f.pacing.snapshotted(cr.n)
	f.log.Info("state restored from snapshot", "index", index, "term", term)
	return nil
}

// readSnapshot loads a snapshot stream into the empty database db.
func readSnapshot(r io.Reader, db *badger.DB) (index, term uint64, err error) {
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	index, term, err = parseSnapshot(r, wb.Set)
	if err != nil {
		return 0, 0, err
	}
	if err := wb.Set([]byte{tApplied}, appliedValue(index, term)); err != nil {
		return 0, 0, err
	}
	if err := wb.Flush(); err != nil {
		return 0, 0, err
	}
	return index, term, nil
}

// parseSnapshot reads a whole snapshot stream, calling fn for each key and
// value, and checks its digest and that nothing follows it: a stream is
// only good once it has been read to the end.
func parseSnapshot(r io.Reader, fn func(k, v []byte) error) (index, term uint64, err error) {
	h := chunk.NewHasher()
	br := bufio.NewReaderSize(r, 1<<20)
	index, term, hdr, err := readSnapshotHeader(br)
	if err != nil {
		return 0, 0, err
	}
	h.Write(hdr)
	body := br
	if hdr[len(snapMagic)] == snapZstd {
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(snapWindow))
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %v", errSnapshotCorrupt, err)
		}
		defer zr.Close()
		body = bufio.NewReaderSize(zr, 1<<20)
	}
	tr := io.TeeReader(body, h)
	byteReader := &teeByteReader{r: body, h: h}
	for {
		kl, err := binary.ReadUvarint(byteReader)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %v", errSnapshotCorrupt, err)
		}
		if kl == 0 {
			break
		}
		k, err := readN(tr, kl, maxSnapKey)
		if err != nil {
			return 0, 0, err
		}
		vl, err := binary.ReadUvarint(byteReader)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %v", errSnapshotCorrupt, err)
		}
		v, err := readN(tr, vl, maxSnapVal)
		if err != nil {
			return 0, 0, err
		}
		if err := fn(k, v); err != nil {
			return 0, 0, err
		}
	}
	want := h.Digest()
	var got chunk.Digest
	if _, err := io.ReadFull(body, got[:]); err != nil || got != want {
		return 0, 0, fmt.Errorf("%w: digest does not match", errSnapshotCorrupt)
	}
	// Past the digest: the end of the zstd stream, then of the stream.
	if _, err := body.ReadByte(); err != io.EOF {
		return 0, 0, fmt.Errorf("%w: data after the digest", errSnapshotCorrupt)
	}
	if body != br {
		if _, err := br.ReadByte(); err != io.EOF {
			return 0, 0, fmt.Errorf("%w: data after the compressed stream", errSnapshotCorrupt)
		}
	}
	return index, term, nil
}

// readSnapshotHeader reads the header of a snapshot stream and returns the
// applied index and term it records, and the header's bytes.
func readSnapshotHeader(r io.Reader) (index, term uint64, hdr []byte, err error) {
	hdr = make([]byte, len(snapMagic)+1+16)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, 0, nil, fmt.Errorf("%w: header: %v", errSnapshotCorrupt, err)
	}
	if v := hdr[len(snapMagic)]; !bytes.Equal(hdr[:len(snapMagic)], []byte(snapMagic)) || v != snapPlain && v != snapZstd {
		return 0, 0, nil, fmt.Errorf("%w: not a cairn snapshot of format %d or %d", errSnapshotCorrupt, snapPlain, snapZstd)
	}
	index = binary.BigEndian.Uint64(hdr[len(snapMagic)+1:])
	term = binary.BigEndian.Uint64(hdr[len(snapMagic)+9:])
	return index, term, hdr, nil
}

func readN(r io.Reader, n, limit uint64) ([]byte, error) {
	if n > limit {
		return nil, fmt.Errorf("%w: record of %d bytes", errSnapshotCorrupt, n)
	}
	// Grow with what arrives rather than trust the length: a corrupt one
	// would allocate up to the limit for nothing.
	var b bytes.Buffer
	b.Grow(int(min(n, 64<<10)))
	if _, err := io.CopyN(&b, r, int64(n)); err != nil {
		return nil, fmt.Errorf("%w: %v", errSnapshotCorrupt, err)
	}
	return b.Bytes(), nil
}

// teeByteReader reads single bytes for uvarints, hashing them.
type teeByteReader struct {
	r *bufio.Reader
	h *chunk.Hasher
}

func (t *teeByteReader) ReadByte() (byte, error) {
	b, err := t.r.ReadByte()
	if err == nil {
		t.h.Write([]byte{b})
	}
	return b, err
}
