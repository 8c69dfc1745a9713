package client

import (
	"bytes"
	"errors"
	"runtime"
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
	// A tiny block claiming 2 GiB, from a node whose recipe says so too.
	f.Add(append([]byte{s2Form}, 0x80, 0x80, 0x80, 0x80, 0x08), uint32(1<<31), true)
	want := chunk.Sum(text)
	f.Fuzz(func(t *testing.T, v []byte, size uint32, stored bool) {
		if len(v) == 0 {
			return // ReadBatch gives no empty value
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

// TestDecodeForm_Bounded: an S2 block that claims gigabytes, from a node
// whose recipe claims them too, is refused before anything that size is
// made.
func TestDecodeForm_Bounded(t *testing.T) {
	claim := append([]byte{s2Form}, 0x80, 0x80, 0x80, 0x80, 0x08) // 2 GiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := decodeForm(chunk.Digest{1}, 1<<31, claim, true)
	runtime.ReadMemStats(&after)
	var sf *storedFormError
	if !errors.As(err, &sf) {
		t.Fatalf("a block claiming 2 GiB: %v, want a storedFormError", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("refusing it allocated %d bytes", grew)
	}
}
