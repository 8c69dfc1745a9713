// A pack file is a magic string and then records, each a header
// naming its chunks and a payload (one chunk's stored form, or one zstd
// frame of several): their encoding and their reading are here.

package cas

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// recordChunk names one chunk of a record.
type recordChunk struct {
	d    Digest
	size int
}

// record is a parsed record.
type record struct {
	codec   Codec
	chunks  []recordChunk
	payload []byte
}

// appendRecord appends a record to dst.
func appendRecord(dst []byte, codec Codec, chunks []recordChunk, payload []byte) []byte {
	dst = append(dst, byte(codec))
	dst = binary.AppendUvarint(dst, uint64(len(chunks)))
	for _, c := range chunks {
		dst = append(dst, c.d[:]...)
		dst = binary.AppendUvarint(dst, uint64(c.size))
	}
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}

var errBadRecord = errors.New("malformed pack record")

// parseRecord parses the record b holds, exactly. Chunk sizes are bounded
// by maxChunk, and the sum by maxFrame.
func parseRecord(b []byte, maxChunk, maxFrame int) (record, error) {
	var r record
	br := bufReader{b: b}
	rec, err := readRecordHeader(&br, maxChunk, maxFrame)
	if err != nil {
		return r, err
	}
	if len(br.b) != rec.n {
		return r, fmt.Errorf("%w: payload of %d bytes, header says %d", errBadRecord, len(br.b), rec.n)
	}
	rec.record.payload = br.b
	return rec.record, nil
}

// header is a record header and the payload length it announces.
type header struct {
	record
	n int
}

// byteReader is what readRecordHeader reads from: a buffer or a stream.
type byteReader interface {
	io.ByteReader
	io.Reader
}

func readRecordHeader(r byteReader, maxChunk, maxFrame int) (header, error) {
	var h header
	c, err := r.ReadByte()
	if err != nil {
		return h, err
	}
	h.codec = Codec(c)
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return h, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if n == 0 || n > maxRecordChunks || (n > 1 && h.codec != CodecZstd) {
		return h, fmt.Errorf("%w: %d chunks in a %v frame", errBadRecord, n, h.codec)
	}
	h.chunks = make([]recordChunk, n)
	total := 0
	for i := range h.chunks {
		if _, err := io.ReadFull(r, h.chunks[i].d[:]); err != nil {
			return h, fmt.Errorf("%w: %v", errBadRecord, err)
		}
		size, err := binary.ReadUvarint(r)
		if err != nil {
			return h, fmt.Errorf("%w: %v", errBadRecord, err)
		}
		if size == 0 || size > uint64(maxChunk) {
			return h, fmt.Errorf("%w: chunk of %d bytes", errBadRecord, size)
		}
		h.chunks[i].size = int(size)
		total += int(size)
	}
	if total > maxFrame {
		return h, fmt.Errorf("%w: frame of %d bytes, above %d", errBadRecord, total, maxFrame)
	}
	plen, err := binary.ReadUvarint(r)
	if err != nil {
		return h, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if plen > uint64(maxFrame)+uint64(maxFrame)/64+1024 {
		return h, fmt.Errorf("%w: payload of %d bytes", errBadRecord, plen)
	}
	h.n = int(plen)
	return h, nil
}

// bufReader reads a byte slice, consuming it.
type bufReader struct{ b []byte }

func (r *bufReader) ReadByte() (byte, error) {
	if len(r.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *bufReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// scanPack calls fn with each record of pack p in order, with its offset
// and length. It stops at the first record that does not parse (a crash
// may leave a torn one at the end) and reports that as a nil error with
// the offset it stopped at; the payload passed to fn is valid only during
// the call.
func scanPack(p *pack, size int64, maxChunk, maxFrame int, fn func(off int64, n int, r record) error) (int64, error) {
	sr := io.NewSectionReader(p.f, 0, size)
	br := bufio.NewReaderSize(sr, 1<<20)
	magic := make([]byte, len(packMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != packMagic {
		return 0, fmt.Errorf("pack %s: not a pack file", packName(p.id))
	}
	off := int64(len(packMagic))
	var payload []byte
	cr := &countingReader{r: br}
	for off < size {
		cr.n = 0
		h, err := readRecordHeader(cr, maxChunk, maxFrame)
		if err != nil {
			return off, nil
		}
		if cap(payload) < h.n {
			payload = make([]byte, h.n)
		}
		payload = payload[:h.n]
		if _, err := io.ReadFull(cr, payload); err != nil {
			return off, nil
		}
		h.record.payload = payload
		n := int(cr.n)
		if err := fn(off, n, h.record); err != nil {
			return off, err
		}
		off += int64(n)
	}
	return off, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
