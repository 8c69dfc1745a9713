package chunk

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"
)

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	return b
}

func TestDigest_KnownVectors(t *testing.T) {
	// Vectors from the BLAKE3 specification's test suite.
	for _, tc := range []struct{ in, want string }{
		{"", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
		{"abc", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"},
	} {
		if got := Sum([]byte(tc.in)).String(); got != tc.want {
			t.Errorf("Sum(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestDigest_MatchesB3sum(t *testing.T) {
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		t.Skip("b3sum not installed (apt-get install b3sum)")
	}
	data := randomBytes(1, 3<<20+17)
	cmd := exec.Command(b3sum, "--no-names")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("b3sum: %v", err)
	}
	h := NewHasher()
	for _, part := range [][]byte{data[:1000], data[1000 : 2<<20], data[2<<20:]} {
		h.Write(part)
	}
	if got, want := h.Digest().String(), strings.TrimSpace(string(out)); got != want {
		t.Fatalf("streamed digest %s, b3sum %s", got, want)
	}
	if Sum(data) != h.Digest() {
		t.Fatal("Sum and Hasher disagree")
	}
}

func TestParseDigest(t *testing.T) {
	good := Sum([]byte("x"))
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"lower", good.String(), true},
		{"upper", strings.ToUpper(good.String()), true},
		{"empty", "", false},
		{"short", good.String()[:63], false},
		{"long", good.String() + "0", false},
		{"non-hex", "g" + good.String()[1:], false},
		{"prefixed", "b3:" + good.String()[3:], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDigest(tc.in)
			if tc.ok {
				if err != nil || d != good {
					t.Fatalf("ParseDigest(%q) = %v, %v", tc.in, d, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidDigest) {
				t.Fatalf("ParseDigest(%q) error %v, want ErrInvalidDigest", tc.in, err)
			}
		})
	}
	var d Digest
	if err := d.UnmarshalText([]byte(good.String())); err != nil || d != good {
		t.Fatalf("UnmarshalText: %v", err)
	}
	if b, _ := good.MarshalText(); string(b) != good.String() {
		t.Fatalf("MarshalText = %s", b)
	}
	if good.Short() != good.String()[:12] {
		t.Fatalf("Short = %s", good.Short())
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add(Sum(nil).String())
	f.Add("")
	f.Add(strings.Repeat("z", 64))
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(d.String(), s) {
			t.Fatalf("ParseDigest(%q) = %s", s, d)
		}
		raw, _ := hex.DecodeString(strings.ToLower(s))
		if !bytes.Equal(raw, d[:]) {
			t.Fatalf("bytes differ")
		}
	})
}

func cutAll(t testing.TB, r io.Reader) [][]byte {
	t.Helper()
	c, err := NewChunker(r, Params{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		b, err := c.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), b...))
	}
}

func TestChunker_Bounds(t *testing.T) {
	p := DefaultParams()
	for _, n := range []int{0, 1, p.MinSize - 1, p.MinSize, p.MinSize + 1, p.AvgSize - 1, p.AvgSize,
		p.AvgSize + 1, p.MaxSize - 1, p.MaxSize, p.MaxSize + 1, 20 << 20} {
		data := randomBytes(uint64(n), n)
		chunks := cutAll(t, bytes.NewReader(data))
		if n == 0 && len(chunks) != 0 {
			t.Fatalf("empty input gave %d chunks", len(chunks))
		}
		if n > 0 && n <= p.MinSize && len(chunks) != 1 {
			t.Fatalf("%d bytes: %d chunks, want 1", n, len(chunks))
		}
		if got := bytes.Join(chunks, nil); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: chunks do not concatenate to the input", n)
		}
		for i, c := range chunks {
			if len(c) > p.MaxSize || (i < len(chunks)-1 && len(c) < p.MinSize) {
				t.Fatalf("%d bytes: chunk %d has %d bytes, outside [%d, %d]", n, i, len(c), p.MinSize, p.MaxSize)
			}
		}
	}
}

func TestChunker_AverageSize(t *testing.T) {
	chunks := cutAll(t, bytes.NewReader(randomBytes(7, 64<<20)))
	avg := (64 << 20) / len(chunks)
	// Normalized chunking lands the mean between min+avg/2 and min+2*avg.
	if avg < DefaultAvgSize*3/4 || avg > 2*DefaultAvgSize {
		t.Fatalf("mean chunk %d bytes over %d chunks, want near %d", avg, len(chunks), DefaultAvgSize)
	}
}

// readSizes returns readers that split the same bytes into different read
// sizes: the boundaries must not depend on them.
func TestChunker_IndependentOfReadSizes(t *testing.T) {
	data := randomBytes(3, 5<<20+333)
	want := cutAll(t, bytes.NewReader(data))
	readers := map[string]io.Reader{
		"one-byte": iotest.OneByteReader(bytes.NewReader(data)),
		"half":     iotest.HalfReader(bytes.NewReader(data)),
		"random":   &jitterReader{data: data, rng: rand.New(rand.NewPCG(1, 2))},
	}
	for name, r := range readers {
		got := cutAll(t, r)
		if len(got) != len(want) {
			t.Fatalf("%s: %d chunks, want %d", name, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s: chunk %d differs", name, i)
			}
		}
	}
}

type jitterReader struct {
	data []byte
	rng  *rand.Rand
}

func (j *jitterReader) Read(p []byte) (int, error) {
	if len(j.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(j.data), 1+j.rng.IntN(200<<10))
	copy(p, j.data[:n])
	j.data = j.data[n:]
	return n, nil
}

func TestChunker_ResyncsAfterInsert(t *testing.T) {
	data := randomBytes(9, 16<<20)
	edited := append(append(randomBytes(10, 1024), data[:8<<20]...), data[8<<20:]...)
	a, b := cutAll(t, bytes.NewReader(data)), cutAll(t, bytes.NewReader(edited))
	seen := map[Digest]bool{}
	for _, c := range a {
		seen[Sum(c)] = true
	}
	var sharedBytes int
	for _, c := range b {
		if seen[Sum(c)] {
			sharedBytes += len(c)
		}
	}
	if sharedBytes < len(data)-2*DefaultMaxSize {
		t.Fatalf("after a 1 KiB insert only %d of %d bytes are in shared chunks", sharedBytes, len(data))
	}
}

func TestChunker_ReadError(t *testing.T) {
	boom := errors.New("boom")
	c, _ := NewChunker(iotest.ErrReader(boom), Params{})
	if _, err := c.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next error %v, want %v", err, boom)
	}
}

func TestParams_Validate(t *testing.T) {
	for _, p := range []Params{
		{MinSize: 10, AvgSize: 64, MaxSize: 128},
		{MinSize: 1024, AvgSize: 3000, MaxSize: 9000},
		{MinSize: 4096, AvgSize: 4096, MaxSize: 8192},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", p)
		}
	}
	if err := (Params{}).Validate(); err != nil {
		t.Errorf("zero Params rejected: %v", err)
	}
}

func TestRecipe_Binary(t *testing.T) {
	r := Recipe{{Digest: Sum([]byte("a")), Size: 1}, {Digest: Sum([]byte("b")), Size: 512 << 10}, {Digest: Sum([]byte("a")), Size: 1}}
	b, _ := r.MarshalBinary()
	var got Recipe
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1] != r[1] || got.Size() != 512<<10+2 {
		t.Fatalf("round trip gave %v", got)
	}
	if d := r.Distinct(); len(d) != 2 {
		t.Fatalf("Distinct = %d digests", len(d))
	}
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(b[:1:1], make([]byte, 33)...)} {
		var x Recipe
		if err := x.UnmarshalBinary(bad); !errors.Is(err, ErrInvalidRecipe) {
			t.Errorf("UnmarshalBinary(%x...) = %v", bad[:min(len(bad), 4)], err)
		}
	}
	off := r.Offsets()
	for pos, want := range map[int64]int{0: 0, 1: 1, 512 << 10: 1, 512<<10 + 1: 2} {
		if got := Locate(off, pos); got != want {
			t.Errorf("Locate(%d) = %d, want %d", pos, got, want)
		}
	}
}

func FuzzRecipeUnmarshal(f *testing.F) {
	b, _ := Recipe{{Digest: Sum(nil), Size: 3}}.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Recipe
		if err := r.UnmarshalBinary(b); err != nil {
			return
		}
		again, _ := r.MarshalBinary()
		var r2 Recipe
		if err := r2.UnmarshalBinary(again); err != nil || len(r2) != len(r) {
			t.Fatalf("re-encoded recipe does not decode: %v", err)
		}
	})
}

// referenceCut is the plain byte-by-byte FastCDC scan that cut must agree
// with exactly: it defines chunker format 1.
func referenceCut(data []byte, p Params) int {
	hard, easy := p.masks()
	n := len(data)
	if n <= p.MinSize {
		return n
	}
	n = min(n, p.MaxSize)
	normal := min(p.AvgSize, n)
	var h uint64
	i := p.MinSize
	for ; i < normal; i++ {
		if h = h<<1 + gear[data[i]]; h&hard == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		if h = h<<1 + gear[data[i]]; h&easy == 0 {
			return i + 1
		}
	}
	return n
}

func TestCut_MatchesReference(t *testing.T) {
	params := []Params{DefaultParams(), {MinSize: 64, AvgSize: 256, MaxSize: 1024}, {MinSize: 100, AvgSize: 128, MaxSize: 300}}
	for _, p := range params {
		for seed := range uint64(4) {
			data := randomBytes(seed, 8<<20)
			if seed == 3 {
				data = bytes.Repeat([]byte("abcdefgh"), 1<<20) // low-entropy input
			}
			for rest := data; len(rest) > 0; {
				got, want := p.Cut(rest), referenceCut(rest, p)
				if got != want {
					t.Fatalf("params %+v: cut at %d, reference %d", p, got, want)
				}
				rest = rest[got:]
			}
		}
	}
}

func FuzzCut(f *testing.F) {
	f.Add(randomBytes(1, 3000), uint16(64))
	f.Fuzz(func(t *testing.T, data []byte, minSize uint16) {
		p := Params{MinSize: 64 + int(minSize%512), AvgSize: 1024, MaxSize: 4096}
		if got, want := p.Cut(data), referenceCut(data, p); got != want {
			t.Fatalf("cut %d, reference %d", got, want)
		}
	})
}

// TestChunker_Reset cuts a stream halfway, resets the chunker to another
// stream, and checks it cuts that one as a fresh chunker does: nothing of
// the first stream's buffer or state is left.
func TestChunker_Reset(t *testing.T) {
	a, b := randomBytes(1, 3<<20), randomBytes(2, 2<<20+777)
	c, err := NewChunker(bytes.NewReader(a), Params{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Next(); err != nil {
			t.Fatal(err)
		}
	}
	c.Reset(bytes.NewReader(b))
	want := cutAll(t, bytes.NewReader(b))
	for i := 0; ; i++ {
		got, err := c.Next()
		if errors.Is(err, io.EOF) {
			if i != len(want) {
				t.Fatalf("%d chunks after Reset, want %d", i, len(want))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(want) || !bytes.Equal(got, want[i]) {
			t.Fatalf("chunk %d after Reset differs from a fresh chunker's", i)
		}
	}
}
