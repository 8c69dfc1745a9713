package client

import (
	"bytes"
	"errors"
	"testing"

	"cairn/cas/chunk"

	"github.com/klauspost/compress/s2"
)

// FuzzDecodeForm feeds arbitrary entries of a fetch answer to the
// client's decoder: it never panics, and returns bytes only when they
// are the chunk asked for; a stored form that fails is a
// *storedFormError (asked for again raw), a raw one that fails is
// ErrDigestMismatch.
func FuzzDecodeForm(f *testing.F) {
	text := bytes.Repeat([]byte(`{"split": 3, "leaf": -0.25}, `), 200)
	f.Add(append([]byte{chunk.RawForm}, text...), uint32(len(text)), true)
	f.Add(append([]byte{s2Form}, s2.Encode(nil, text)...), uint32(len(text)), true)
	f.Add(append([]byte{s2Form}, s2.Encode(nil, text)...), uint32(len(text)), false)
	f.Add(append([]byte{s2Form}, s2.Encode(nil, text[1:])...), uint32(len(text)), true)
	f.Add([]byte{s2Form, 0xff, 0xff, 0xff, 0xff, 0x0f}, uint32(len(text)), true)
	f.Add([]byte{1, 2, 3}, uint32(3), true)
	f.Add([]byte{chunk.RawForm}, uint32(0), true)
	want := chunk.Sum(text)
	f.Fuzz(func(t *testing.T, v []byte, size uint32, stored bool) {
		if len(v) == 0 || size > chunk.DefaultMaxSize {
			return // ReadBatch gives no empty value; the recipe bounds the size
		}
		b, err := decodeForm(want, size, v, stored)
		if err == nil {
			if !bytes.Equal(b, text) || size != uint32(len(text)) {
				t.Fatalf("form %d of %d bytes decoded to %d other bytes", v[0], len(v), len(b))
			}
			return
		}
		var sf *storedFormError
		switch {
		case v[0] == chunk.RawForm && !errors.Is(err, ErrDigestMismatch):
			t.Fatalf("raw form: %v, want ErrDigestMismatch", err)
		case v[0] == s2Form && stored && !errors.As(err, &sf):
			t.Fatalf("S2 form: %v, want a storedFormError", err)
		case v[0] != chunk.RawForm && (!stored || v[0] != s2Form) && errors.As(err, &sf):
			t.Fatalf("form %d not asked for: %v, want a plain error", v[0], err)
		}
	})
}
