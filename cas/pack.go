package cas

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Pack files hold the stored forms of chunks too large to sit inline in
// the index. A pack is append-only: records are added at its end and never
// changed; a pack is removed whole once no index entry points into it.
//
// A pack starts with packMagic; then records follow each other. A record
// is one frame of one codec holding one or more chunks:
//
//	codec    byte
//	n        uvarint, the number of chunks (1 for every codec but zstd)
//	n times: digest [32]byte, size uvarint (the chunk's logical length)
//	length   uvarint, the payload's length
//	payload  the frame: the codec's encoding of the n chunks' bytes, concatenated
//
// A one-chunk record's codec byte and payload are the chunk's stored form,
// as peers exchange it.
const packMagic = "cairnpk\x01"

// packKind says what a pack holds: chunks as Put wrote them (hot, the
// compactor's input) or as the compactor wrote them (cold).
type packKind byte

const (
	packHot  packKind = 1
	packCold packKind = 2
)

func (k packKind) String() string {
	switch k {
	case packHot:
		return "hot"
	case packCold:
		return "cold"
	}
	return "pack(" + strconv.Itoa(int(k)) + ")"
}

// maxRecordChunks bounds n in a record header, so that a damaged header
// cannot make a reader allocate without bound.
const maxRecordChunks = 4096

// pack is one open pack file. Its counters are guarded by packSet.mu.
type pack struct {
	id     uint64
	kind   packKind
	f      *os.File
	size   int64 // bytes written
	synced int64 // bytes covered by a finished sync
	sealed bool  // takes no more appends

	// What the index says lives here, as persisted with the index.
	liveChunks int64
	liveBytes  int64 // stored bytes, a share of each solid frame

	refs    int  // readers using f
	removed bool // unlinked; f closes when refs drops to 0
	// pending counts appends whose index entries are neither committed
	// nor abandoned yet: the compactor leaves such a pack alone.
	pending int
}

// garbage returns the bytes of p that no chunk uses.
func (p *pack) garbage() int64 { return max(0, p.size-int64(len(packMagic))-p.liveBytes) }

// packSet owns the pack files of a store.
type packSet struct {
	dir  string
	size int64 // a pack takes no more appends past this many bytes

	mu    sync.Mutex
	packs map[uint64]*pack
	next  uint64
	cur   map[packKind]*pack // the pack each kind appends to

	appendMu [3]sync.Mutex // by kind: one appender at a time
}

func packName(id uint64) string { return fmt.Sprintf("%016x.pack", id) }

// openPacks opens every pack file in dir, creating dir if needed. It
// returns the ids of files it found.
func openPacks(dir string, size int64) (*packSet, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create pack folder: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	ps := &packSet{dir: dir, size: size, packs: map[uint64]*pack{}, cur: map[packKind]*pack{}, next: 1}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pack")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			ps.close()
			return nil, fmt.Errorf("open pack %s: %w", e.Name(), err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			ps.close()
			return nil, fmt.Errorf("stat pack %s: %w", e.Name(), err)
		}
		// Packs found at start-up take no more appends: a crash may have
		// left a torn record at their end.
		ps.packs[id] = &pack{id: id, f: f, size: st.Size(), synced: st.Size(), sealed: true}
		ps.next = max(ps.next, id+1)
	}
	return ps, nil
}

// ids returns the ids of the open packs in ascending order.
func (ps *packSet) ids() []uint64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]uint64, 0, len(ps.packs))
	for id := range ps.packs {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// appendRecords writes buf, whole records, at the end of the pack that
// kind appends to, starting a new pack when that one is full. It returns
// the pack and the offset buf starts at. The bytes are not synced. The
// append counts as pending on the pack until the caller calls settle.
func (ps *packSet) appendRecords(kind packKind, buf []byte) (*pack, int64, error) {
	ps.appendMu[kind].Lock()
	defer ps.appendMu[kind].Unlock()
	ps.mu.Lock()
	p := ps.cur[kind]
	if p != nil && (p.sealed || p.removed || (p.size > int64(len(packMagic)) && p.size+int64(len(buf)) > ps.size)) {
		p.sealed = true
		p = nil
	}
	ps.mu.Unlock()
	if p == nil {
		var err error
		if p, err = ps.create(kind); err != nil {
			return nil, 0, err
		}
	}
	ps.mu.Lock()
	off := p.size
	p.pending++
	ps.mu.Unlock()
	if _, err := p.f.WriteAt(buf, off); err != nil {
		// Part of buf may be there: append no more after it.
		ps.mu.Lock()
		p.sealed = true
		p.pending--
		ps.mu.Unlock()
		return nil, 0, fmt.Errorf("write pack %s: %w", packName(p.id), err)
	}
	ps.mu.Lock()
	p.size = off + int64(len(buf))
	ps.mu.Unlock()
	return p, off, nil
}

// create starts a new pack of the given kind and makes it the one that
// kind appends to. The file and its name are synced before it is used, so
// that index entries pointing into it never outlive it.
func (ps *packSet) create(kind packKind) (*pack, error) {
	ps.mu.Lock()
	id := ps.next
	ps.next++
	ps.mu.Unlock()
	path := filepath.Join(ps.dir, packName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create pack: %w", err)
	}
	if _, err := f.Write([]byte(packMagic)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("create pack: %w", err)
	}
	if err := syncDir(ps.dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("create pack: %w", err)
	}
	p := &pack{id: id, kind: kind, f: f, size: int64(len(packMagic))}
	ps.mu.Lock()
	ps.packs[id] = p
	if old := ps.cur[kind]; old != nil {
		old.sealed = true
	}
	ps.cur[kind] = p
	ps.mu.Unlock()
	return p, nil
}

// settle ends an append's pending state: its index entries are
// committed, or will never be.
func (ps *packSet) settle(p *pack) {
	ps.mu.Lock()
	p.pending--
	ps.mu.Unlock()
}

// seal makes the pack kind appends to take no more appends, and returns
// it (nil if none).
func (ps *packSet) seal(kind packKind) *pack {
	ps.appendMu[kind].Lock()
	defer ps.appendMu[kind].Unlock()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.cur[kind]
	if p != nil {
		p.sealed = true
		delete(ps.cur, kind)
	}
	return p
}

// syncAll makes every byte appended to any pack so far durable. It is the
// data half of a write's durability: index entries pointing into a pack
// are committed only after the bytes they point to are synced.
func (ps *packSet) syncAll() error {
	type job struct {
		p    *pack
		upTo int64
	}
	var jobs []job
	ps.mu.Lock()
	for _, p := range ps.packs {
		if p.size > p.synced && !p.removed {
			p.refs++
			jobs = append(jobs, job{p, p.size})
		}
	}
	ps.mu.Unlock()
	var err error
	for _, j := range jobs {
		if serr := fdatasync(j.p.f); serr != nil && err == nil {
			err = fmt.Errorf("sync pack %s: %w", packName(j.p.id), serr)
		} else if serr == nil {
			ps.mu.Lock()
			j.p.synced = max(j.p.synced, j.upTo)
			ps.mu.Unlock()
		}
		ps.release(j.p)
	}
	return err
}

// acquire returns pack id for reading, or nil if there is none (any
// more); the caller releases it.
func (ps *packSet) acquire(id uint64) *pack {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.packs[id]
	if p == nil || p.removed {
		return nil
	}
	p.refs++
	return p
}

func (ps *packSet) release(p *pack) {
	ps.mu.Lock()
	p.refs--
	last := p.refs == 0 && p.removed
	ps.mu.Unlock()
	if last {
		p.f.Close()
	}
}

// remove unlinks pack id. Readers holding it finish with the open file.
func (ps *packSet) remove(id uint64) error {
	ps.mu.Lock()
	p := ps.packs[id]
	if p == nil || p.removed {
		ps.mu.Unlock()
		return nil
	}
	p.removed = true
	delete(ps.packs, id)
	if ps.cur[p.kind] == p {
		delete(ps.cur, p.kind)
	}
	closeNow := p.refs == 0
	ps.mu.Unlock()
	err := os.Remove(filepath.Join(ps.dir, packName(id)))
	if closeNow {
		p.f.Close()
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pack %s: %w", packName(id), err)
	}
	return nil
}

// bytes returns the bytes the pack files take.
func (ps *packSet) bytes() int64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var n int64
	for _, p := range ps.packs {
		n += p.size
	}
	return n
}

func (ps *packSet) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.packs {
		p.f.Close()
	}
	ps.packs = map[uint64]*pack{}
}

// readAt reads n bytes of pack id at off into buf (grown as needed). It
// returns errPackGone when the pack has been removed, which a reader
// answers by looking the chunk up again: the compactor moved it.
func (ps *packSet) readAt(id uint64, off int64, n int, buf []byte) ([]byte, error) {
	p := ps.acquire(id)
	if p == nil {
		return nil, errPackGone
	}
	defer ps.release(p)
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := p.f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read pack %s at %d: %w", packName(id), off, err)
	}
	return buf, nil
}

// readTail reads up to n bytes of pack id at off, fewer if the pack ends
// sooner.
func (ps *packSet) readTail(id uint64, off int64, n int, buf []byte) ([]byte, error) {
	p := ps.acquire(id)
	if p == nil {
		return nil, errPackGone
	}
	defer ps.release(p)
	ps.mu.Lock()
	size := p.size
	ps.mu.Unlock()
	if off >= size {
		return nil, io.EOF
	}
	n = int(min(int64(n), size-off))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := p.f.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}

// errPackGone is returned for a read of a pack compaction removed.
var errPackGone = errors.New("pack removed")
