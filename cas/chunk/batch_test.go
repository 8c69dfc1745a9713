package chunk

import (
	"bytes"
	"errors"
	"testing"
)

type entry struct {
	d Digest
	v []byte
}

func readAllBatch(b []byte, max int) ([]entry, error) {
	var out []entry
	err := ReadBatch(bytes.NewReader(b), max, func(d Digest, v []byte) error {
		out = append(out, entry{d, v})
		return nil
	})
	return out, err
}

func TestBatch_RoundTrip(t *testing.T) {
	want := []entry{{Sum([]byte("a")), append([]byte{RawForm}, "a"...)}, {Sum(nil), []byte{2, 9, 9}}, {Digest{1}, bytes.Repeat([]byte{7}, 300)}}
	var b []byte
	for _, e := range want {
		b = AppendBatch(b, e.d, e.v)
	}
	got, err := readAllBatch(b, 1000)
	if err != nil || len(got) != len(want) {
		t.Fatalf("read %d entries, %v; want %d", len(got), err, len(want))
	}
	for i := range want {
		if got[i].d != want[i].d || !bytes.Equal(got[i].v, want[i].v) {
			t.Fatalf("entry %d differs", i)
		}
	}
	if got, err := readAllBatch(nil, 1000); err != nil || len(got) != 0 {
		t.Fatalf("an empty batch: %d entries, %v", len(got), err)
	}
	for _, bad := range [][]byte{
		b[:len(b)-1],                        // cut in a value
		b[:10],                              // cut in a digest
		AppendBatchHeader(nil, Digest{}, 0), // a value with no codec byte
		AppendBatch(nil, Digest{}, make([]byte, 1001)), // above the bound
	} {
		if _, err := readAllBatch(bad, 1000); !errors.Is(err, ErrBadBatch) {
			t.Fatalf("a malformed batch read with %v, want ErrBadBatch", err)
		}
	}
}

// FuzzReadBatch: any input reads as entries or fails with ErrBadBatch,
// and the entries read, encoded again, read back the same (the input may
// have spelled a length in more bytes than needed).
func FuzzReadBatch(f *testing.F) {
	f.Add(AppendBatch(nil, Sum([]byte("x")), []byte{RawForm, 'x'}))
	f.Add(AppendBatch(AppendBatch(nil, Digest{3}, []byte{2, 1, 2, 3}), Digest{4}, []byte{0}))
	f.Add([]byte{})
	f.Add(append(append(make([]byte, DigestSize), 0x81, 0x00), RawForm)) // a length in two bytes
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readAllBatch(b, 1<<10)
		if err != nil {
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("error %v is not ErrBadBatch", err)
			}
			return
		}
		var again []byte
		for _, e := range got {
			if len(e.v) == 0 || len(e.v) > 1<<10 {
				t.Fatalf("a value of %d bytes read", len(e.v))
			}
			again = AppendBatch(again, e.d, e.v)
		}
		back, err := readAllBatch(again, 1<<10)
		if err != nil || len(back) != len(got) {
			t.Fatalf("the entries read, encoded again, read as %d entries, %v", len(back), err)
		}
		for i := range got {
			if back[i].d != got[i].d || !bytes.Equal(back[i].v, got[i].v) {
				t.Fatalf("entry %d reads back other", i)
			}
		}
	})
}
