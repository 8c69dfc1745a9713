package cas

import (
	"bytes"
	"slices"
	"testing"

	"cairn/cas/chunk"

	"github.com/klauspost/compress/zstd"
)

func TestCodec_RoundTrip(t *testing.T) {
	c, err := newCodec(DefaultMinSaving, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	inputs := [][]byte{{0}, []byte("a"), compressible(1, 5000), randomBytes(1, 5000), make([]byte, chunk.DefaultMaxSize), compressible(2, chunk.DefaultMaxSize)}
	// Small compressible chunks: the encoder writes no content size into
	// frames under 256 bytes.
	for _, n := range []int{2, 40, 100, 212, 255, 256, 257} {
		inputs = append(inputs, bytes.Repeat([]byte("channels:\n- conda-forge\n"), n)[:n])
	}
	for _, data := range inputs {
		v := c.encode(nil, data)
		if want := CodecS2; len(data) > 100 && !bytes.Equal(data, randomBytes(1, 5000)) && Codec(v[0]) != want {
			t.Fatalf("%d bytes stored as %v, want %v", len(data), Codec(v[0]), want)
		}
		got, err := c.decode(nil, v, chunk.DefaultMaxSize)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes (%v): round trip failed: %v", len(data), Codec(v[0]), err)
		}
		if n, err := c.logicalSize(v, chunk.DefaultMaxSize); err != nil || n != int64(len(data)) {
			t.Fatalf("logicalSize = %d, %v; want %d", n, err, len(data))
		}
	}
	if _, err := c.decode(nil, c.encode(nil, make([]byte, 1000)), 999); err == nil {
		t.Fatal("decode accepted a chunk above the size bound")
	}
	// Any codec decodes, whatever wrote it: a zstd frame as format 1
	// stores hold them.
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	defer enc.Close()
	text := compressible(3, 50000)
	if got, err := c.decode(nil, append([]byte{byte(CodecZstd)}, enc.EncodeAll(text, nil)...), chunk.DefaultMaxSize); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("zstd form: %v", err)
	}
}

// FuzzDecodeChunk feeds arbitrary stored values to the chunk decoder: it
// must never panic or return more than the size bound, and whatever it
// accepts must re-encode to something that decodes to the same bytes.
func FuzzDecodeChunk(f *testing.F) {
	c, err := newCodec(DefaultMinSaving, 1)
	if err != nil {
		f.Fatal(err)
	}
	defer c.close()
	f.Add(c.encode(nil, compressible(1, 3000)))
	f.Add(c.encode(nil, randomBytes(2, 300)))
	f.Add([]byte{1, 0x28, 0xb5, 0x2f, 0xfd})
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{7})
	f.Fuzz(func(t *testing.T, v []byte) {
		const limit = 1 << 16
		out, err := c.decode(nil, v, limit)
		if err != nil {
			return
		}
		if len(out) > limit {
			t.Fatalf("decoded %d bytes above limit %d", len(out), limit)
		}
		again, err := c.decode(nil, c.encode(nil, out), limit)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-encoded chunk does not round-trip: %v", err)
		}
	})
}

// FuzzParseRecord feeds arbitrary bytes to the pack record parser and to
// the location decoder: they must never panic, and a record they accept
// must stay within its bounds and encode back to the same bytes.
func FuzzParseRecord(f *testing.F) {
	d := chunk.Sum([]byte("x"))
	f.Add(appendRecord(nil, CodecS2, []recordChunk{{d: d, size: 100}}, []byte("payload")))
	f.Add(appendRecord(nil, CodecZstd, []recordChunk{{d: d, size: 100}, {d: d, size: 7}}, []byte{0x28, 0xb5, 0x2f, 0xfd}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(location{pack: 3, off: 8, length: 100, logical: 90, stored: 100}.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxChunk, maxFrame = 1 << 16, 1 << 18
		r, err := parseRecord(b, maxChunk, maxFrame)
		if err == nil {
			if r.frameSize() > maxFrame || len(r.chunks) == 0 || (len(r.chunks) > 1 && r.codec != CodecZstd) {
				t.Fatalf("accepted a record out of bounds: %d chunks, %d bytes", len(r.chunks), r.frameSize())
			}
			// Uvarints may be written longer than needed: check that the
			// fields survive encoding again.
			again, err := parseRecord(appendRecord(nil, r.codec, r.chunks, r.payload), maxChunk, maxFrame)
			if err != nil || again.codec != r.codec || !slices.Equal(again.chunks, r.chunks) || !bytes.Equal(again.payload, r.payload) {
				t.Fatalf("record does not round-trip: %v", err)
			}
		}
		if l, err := parseLocation(b); err == nil {
			if l2, err := parseLocation(l.marshal()); err != nil || l2 != l {
				t.Fatalf("location %+v does not round-trip", l)
			}
		}
	})
}

// TestChunkCache checks the cache's admission and bounds: a chunk read
// once is not kept, a chunk read twice is, chunks of a shared frame are
// kept at once, and the bytes held stay under the limit.
func TestChunkCache(t *testing.T) {
	c := newChunkCache(1 << 20)
	a, b := compressible(1, 100<<10), compressible(2, 100<<10)
	da, db := chunk.Sum(a), chunk.Sum(b)
	c.read(da, a)
	if _, ok := c.get(da, nil); ok {
		t.Fatal("a chunk read once is kept")
	}
	c.read(da, a)
	if got, ok := c.get(da, nil); !ok || !bytes.Equal(got, a) {
		t.Fatal("a chunk read twice is not kept")
	}
	c.put(db, b)
	if _, ok := c.get(db, nil); !ok {
		t.Fatal("a frame's chunk is not kept")
	}
	for i := range 40 {
		x := compressible(uint64(10+i), 100<<10)
		c.put(chunk.Sum(x), x)
	}
	if c.size > c.limit {
		t.Fatalf("cache holds %d bytes, limit %d", c.size, c.limit)
	}
	if _, ok := c.get(da, nil); ok {
		t.Fatal("the least recently used chunk was not evicted")
	}
	var none *chunkCache
	none.read(da, a)
	if _, ok := none.get(da, nil); ok {
		t.Fatal("a nil cache holds something")
	}
}
