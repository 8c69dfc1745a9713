package cas

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The index is the store's Badger database: one entry per chunk, under
// chunkKey. An entry's value is either the chunk's stored form itself
// (inline: small chunks, and every chunk of a format 1 store) or, when its
// Badger user meta is metaPacked, the location of the chunk in a pack.
// The user meta tells the two apart without reading values.
const metaPacked byte = 1

// location is where a chunk lives in a pack: the record that holds it,
// its logical length, and its share of the stored bytes (a solid frame's
// length split over its chunks by their lengths).
type location struct {
	pack    uint64
	off     int64 // of the record in the pack
	length  int   // of the record
	logical int
	stored  int64
}

func (l location) marshal() []byte {
	b := make([]byte, 0, 5*binary.MaxVarintLen64)
	b = binary.AppendUvarint(b, l.pack)
	b = binary.AppendUvarint(b, uint64(l.off))
	b = binary.AppendUvarint(b, uint64(l.length))
	b = binary.AppendUvarint(b, uint64(l.logical))
	return binary.AppendUvarint(b, uint64(l.stored))
}

var errBadLocation = errors.New("malformed chunk location")

func parseLocation(b []byte) (location, error) {
	var l location
	var v [5]uint64
	for i := range v {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return l, errBadLocation
		}
		v[i], b = x, b[n:]
	}
	if len(b) != 0 || v[1] > 1<<62 || v[2] > 1<<31 || v[3] > 1<<31 || v[4] > 1<<31 {
		return l, errBadLocation
	}
	return location{pack: v[0], off: int64(v[1]), length: int(v[2]), logical: int(v[3]), stored: int64(v[4])}, nil
}

// Keys of the pack table: prefixPack, then the pack id (8 bytes,
// big-endian). The value is the pack's kind and what lives in it, written
// in the same transaction as every index change that moves it.
const prefixPack = 'p'

func packKey(id uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixPack
	binary.BigEndian.PutUint64(k[1:], id)
	return k
}

func marshalPackRecord(p *pack) []byte {
	b := []byte{byte(p.kind)}
	b = binary.AppendUvarint(b, uint64(p.liveChunks))
	return binary.AppendUvarint(b, uint64(p.liveBytes))
}

func parsePackRecord(b []byte) (kind packKind, chunks, bytes int64, err error) {
	if len(b) < 1 {
		return 0, 0, 0, errors.New("cas: empty pack record")
	}
	kind = packKind(b[0])
	b = b[1:]
	c, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, 0, errors.New("cas: pack record does not decode")
	}
	by, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return 0, 0, 0, errors.New("cas: pack record does not decode")
	}
	return kind, int64(c), int64(by), nil
}

// counters are what m/stats holds: the store's Stats and the inline
// chunks that the compactor still has to move into packs (those a format 1
// store wrote, larger than InlineMax).
type counters struct {
	Stats
	legacyChunks, legacyBytes int64
}

func (c counters) marshal() []byte {
	b := make([]byte, 0, 5*binary.MaxVarintLen64)
	for _, v := range []int64{c.Chunks, c.LogicalBytes, c.StoredBytes, c.legacyChunks, c.legacyBytes} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

// unmarshal decodes a counters record. It reports whether the record had
// the legacy counters (format 1 records have three fields).
func (c *counters) unmarshal(b []byte) (bool, error) {
	fields := []*int64{&c.Chunks, &c.LogicalBytes, &c.StoredBytes, &c.legacyChunks, &c.legacyBytes}
	for i, p := range fields {
		if i == 3 && len(b) == 0 {
			return false, nil
		}
		v, n := binary.Varint(b)
		if n <= 0 {
			return false, errors.New("cas: stats record does not decode")
		}
		*p, b = v, b[n:]
	}
	return true, nil
}

// share splits a frame of stored bytes over its chunks by their lengths,
// so that the shares add up to stored exactly.
func share(stored int64, sizes []int) []int64 {
	var total int64
	for _, s := range sizes {
		total += int64(s)
	}
	out := make([]int64, len(sizes))
	var given, seen int64
	for i, s := range sizes {
		seen += int64(s)
		upTo := stored * seen / max(1, total)
		out[i] = upTo - given
		given = upTo
	}
	return out
}

// chunkIndex returns the position of d in a record's chunks, and the
// offset of its bytes in the decoded frame.
func (r record) chunkIndex(d Digest) (int, int, error) {
	off := 0
	for i, c := range r.chunks {
		if c.d == d {
			return i, off, nil
		}
		off += c.size
	}
	return 0, 0, fmt.Errorf("record does not hold chunk %s", d.Short())
}

func (r record) frameSize() int {
	n := 0
	for _, c := range r.chunks {
		n += c.size
	}
	return n
}
