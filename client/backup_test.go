package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"cairn/cas/chunk"

	"github.com/klauspost/compress/zstd"
)

// testBackup builds a backup stream of records (key, value pairs) in
// format 1.
func testBackup(index, term uint64, records ...[]byte) []byte {
	return testBackupFormat(backupPlain, index, term, records...)
}

// testBackupFormat builds a backup stream in format 1 or 2 (whose body
// after the header is compressed, its digest still that of the plain
// bytes).
func testBackupFormat(version byte, index, term uint64, records ...[]byte) []byte {
	b := append([]byte(backupMagic), version)
	b = binary.BigEndian.AppendUint64(b, index)
	b = binary.BigEndian.AppendUint64(b, term)
	for _, r := range records {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	b = append(b, 0)
	d := chunk.Sum(b)
	b = append(b, d[:]...)
	if version != backupZstd {
		return b
	}
	const hdr = len(backupMagic) + 1 + 16
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		panic(err)
	}
	return enc.EncodeAll(b[hdr:], bytes.Clone(b[:hdr]))
}

func chunkRecord(d chunk.Digest, refs, size uint64) ([]byte, []byte) {
	v := binary.AppendUvarint(nil, refs)
	return append([]byte{'k'}, d[:]...), binary.AppendUvarint(v, size)
}

func TestScanBackup(t *testing.T) {
	for _, format := range []byte{backupPlain, backupZstd} {
		t.Run(fmt.Sprint("Format", format), func(t *testing.T) { testScanBackup(t, format) })
	}
}

func testScanBackup(t *testing.T, format byte) {
	d1, d2, d3 := chunk.Sum([]byte("one")), chunk.Sum([]byte("two")), chunk.Sum([]byte("gone"))
	k1, v1 := chunkRecord(d1, 2, 3)
	k2, v2 := chunkRecord(d2, 1, 3)
	k3, v3 := chunkRecord(d3, 0, 4) // unreferenced: not listed
	good := testBackupFormat(format, 42, 3,
		[]byte("bbkt"), []byte(`{}`),
		k1, v1, k2, v2, k3, v3,
		[]byte("obkt\x00a"), []byte(`{}`), []byte("obkt\x00b"), []byte(`{}`))
	info, err := ScanBackup(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if info.Index != 42 || info.Term != 3 || info.Objects != 2 || info.Records != 6 || info.Size != int64(len(good)) {
		t.Fatalf("info %+v", info)
	}
	want := map[chunk.Digest]uint32{d1: 3, d2: 3}
	if len(info.Chunks) != 2 || info.ChunkBytes() != 6 {
		t.Fatalf("chunks %v", info.Chunks)
	}
	for _, r := range info.Chunks {
		if want[r.Digest] != r.Size {
			t.Fatalf("chunk %s of %d bytes, want %v", r.Digest, r.Size, want)
		}
	}
	other := byte(backupPlain)
	if format == backupPlain {
		other = backupZstd
	}
	for name, bad := range map[string][]byte{
		"Empty":       nil,
		"Truncated":   good[:len(good)-1],
		"FlipMiddle":  flip(good, len(good)/2),
		"FlipEnd":     flip(good, len(good)-2),
		"Trailing":    append(append([]byte{}, good...), 0),
		"Magic":       append([]byte("CAIRNFSX"), good[8:]...),
		"OtherFormat": append(append([]byte{}, good[:8]...), append([]byte{other}, good[9:]...)...),
		"Format3":     append(append([]byte{}, good[:8]...), append([]byte{3}, good[9:]...)...),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ScanBackup(bytes.NewReader(bad)); !errors.Is(err, ErrBadBackup) {
				t.Fatalf("got %v, want ErrBadBackup", err)
			}
		})
	}
}

// flip returns b with a bit of its byte i flipped. (In format 2 a flip in
// the zstd frame's header may leave the content as it was, which is then
// a good backup: what the digest covers is the content.)
func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

func FuzzScanBackup(f *testing.F) {
	k, v := chunkRecord(chunk.Sum([]byte("x")), 1, 1)
	f.Add(testBackup(1, 1, k, v))
	f.Add(testBackup(0, 0))
	f.Add(testBackupFormat(backupZstd, 1, 1, k, v))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ScanBackup(bytes.NewReader(b))
		if err != nil && !errors.Is(err, ErrBadBackup) {
			t.Fatalf("an error that is not ErrBadBackup: %v", err)
		}
		if err == nil && info.Size != int64(len(b)) {
			t.Fatalf("size %d of a %d-byte stream", info.Size, len(b))
		}
	})
}
