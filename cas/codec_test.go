package cas

import (
	"bytes"
	"testing"

	"cairn/cas/chunk"
)

func TestCodec_RoundTrip(t *testing.T) {
	c, err := newCodec(DefaultMinSaving, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	inputs := [][]byte{{0}, []byte("a"), compressible(1, 5000), randomBytes(1, 5000), make([]byte, chunk.DefaultMaxSize)}
	// Small compressible chunks: the encoder writes no content size into
	// frames under 256 bytes.
	for _, n := range []int{2, 40, 100, 212, 255, 256, 257} {
		inputs = append(inputs, bytes.Repeat([]byte("channels:\n- conda-forge\n"), n)[:n])
	}
	for _, data := range inputs {
		v := c.encode(nil, data)
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
