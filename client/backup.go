package client

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"cairn/cas/chunk"

	"github.com/klauspost/compress/zstd"
)

// The backup stream is the cluster's snapshot format (docs/format.md):
// "CAIRNFSM", a format byte, the applied index and term; then each state
// record as a uvarint length and bytes, key then value, in key order; a
// zero length; and the BLAKE3-256 of everything before it. In format 2
// everything after the header is one zstd stream, and the digest is that
// of the uncompressed bytes. ScanBackup reads the framing and two tables of the state: objects ("o" keys) and
// chunks ("k" + a 32-byte digest -> uvarint refs, uvarint size), which
// is what a backup tool needs to copy and check the chunks a backup
// references without a cluster to ask.
const (
	backupMagic  = "CAIRNFSM"
	backupPlain  = 1
	backupZstd   = 2
	backupWindow = 8 << 20 // the largest zstd window a backup may use
	maxBackupKey = 4 << 10
	maxBackupVal = 64 << 20
)

// ErrBadBackup is returned for a stream that is not a complete backup:
// not the format, cut short, or its digest does not match its content.
var ErrBadBackup = errors.New("client: not a valid backup")

// BackupInfo is what a backup stream holds, as ScanBackup reads it.
type BackupInfo struct {
	// Index and Term are the Raft position the state was consistent at.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Size is the stream's length; Digest its BLAKE3 trailer.
	Size    int64        `json:"size"`
	Digest  chunk.Digest `json:"digest"`
	Records int          `json:"records"`
	Objects int          `json:"objects"`
	// Chunks lists every chunk the state references (by committed objects
	// or multipart uploads in progress), in digest order, with its size.
	Chunks []chunk.Ref `json:"-"`
}

// ChunkBytes is the sum of the referenced chunks' sizes.
func (b BackupInfo) ChunkBytes() int64 {
	var n int64
	for _, r := range b.Chunks {
		n += int64(r.Size)
	}
	return n
}

// ScanBackup reads a whole backup stream, checks its framing and its
// digest, and returns what it holds. A stream that does not check out is
// an error matching ErrBadBackup.
func ScanBackup(r io.Reader) (BackupInfo, error) {
	var info BackupInfo
	h := chunk.NewHasher()
	cr := &countReader{r: r}
	br := bufio.NewReaderSize(cr, 1<<20)
	hdr := make([]byte, len(backupMagic)+1+16)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return info, fmt.Errorf("%w: header: %v", ErrBadBackup, err)
	}
	version := hdr[len(backupMagic)]
	if !bytes.Equal(hdr[:len(backupMagic)], []byte(backupMagic)) || version != backupPlain && version != backupZstd {
		return info, fmt.Errorf("%w: not a cairn backup of format %d or %d", ErrBadBackup, backupPlain, backupZstd)
	}
	h.Write(hdr)
	info.Index = binary.BigEndian.Uint64(hdr[len(backupMagic)+1:])
	info.Term = binary.BigEndian.Uint64(hdr[len(backupMagic)+9:])
	body := br
	if version == backupZstd {
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(backupWindow))
		if err != nil {
			return info, fmt.Errorf("%w: %v", ErrBadBackup, err)
		}
		defer zr.Close()
		body = bufio.NewReaderSize(zr, 1<<20)
	}
	hr := &hashingReader{r: body, h: h}
	for {
		k, err := readRecord(hr, maxBackupKey)
		if err != nil {
			return info, err
		}
		if k == nil {
			break
		}
		v, err := readRecord(hr, maxBackupVal)
		if err != nil {
			return info, err
		}
		info.Records++
		switch {
		case k[0] == 'o':
			info.Objects++
		case k[0] == 'k' && len(k) == 1+len(chunk.Digest{}):
			refs, n := binary.Uvarint(v)
			size, m := binary.Uvarint(v[max(n, 0):])
			if n <= 0 || m <= 0 || size > maxBackupVal {
				return info, fmt.Errorf("%w: chunk record %x", ErrBadBackup, k[1:])
			}
			if refs > 0 {
				var d chunk.Digest
				copy(d[:], k[1:])
				info.Chunks = append(info.Chunks, chunk.Ref{Digest: d, Size: uint32(size)})
			}
		}
	}
	want := h.Digest()
	if _, err := io.ReadFull(body, info.Digest[:]); err != nil {
		return info, fmt.Errorf("%w: no digest at the end: %v", ErrBadBackup, err)
	}
	if info.Digest != want {
		return info, fmt.Errorf("%w: its content hashes to %s, its trailer says %s", ErrBadBackup, want, info.Digest)
	}
	if _, err := body.ReadByte(); err != io.EOF {
		return info, fmt.Errorf("%w: data after the digest", ErrBadBackup)
	}
	if body != br {
		if _, err := br.ReadByte(); err != io.EOF {
			return info, fmt.Errorf("%w: data after the compressed stream", ErrBadBackup)
		}
	}
	info.Size = cr.n
	slices.SortFunc(info.Chunks, func(a, b chunk.Ref) int { return bytes.Compare(a.Digest[:], b.Digest[:]) })
	return info, nil
}

// readRecord reads one length-prefixed record; nil at the zero length
// that ends them.
func readRecord(r *hashingReader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("%w: cut short: %v", ErrBadBackup, err)
	}
	if n == 0 {
		return nil, nil
	}
	if n > limit {
		return nil, fmt.Errorf("%w: a record of %d bytes", ErrBadBackup, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: cut short: %v", ErrBadBackup, err)
	}
	return b, nil
}

// hashingReader hashes what is read through it, byte by byte too.
type hashingReader struct {
	r *bufio.Reader
	h *chunk.Hasher
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	return n, err
}

func (r *hashingReader) ReadByte() (byte, error) {
	c, err := r.r.ReadByte()
	if err == nil {
		r.h.Write([]byte{c})
	}
	return c, err
}

type countReader struct {
	r io.Reader
	n int64
}

func (r *countReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}
