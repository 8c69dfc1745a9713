package chunk

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// spanDigest hashes data cut at the given offsets, piece by piece, as
// Put's workers do, and assembles the spans.
func spanDigest(t testing.TB, data []byte, cuts []int) Digest {
	var h TreeHasher
	start := 0
	for _, c := range append(cuts, len(data)) {
		if err := h.Add(HashSpan(int64(start), data[start:c])); err != nil {
			t.Fatal(err)
		}
		start = c
	}
	return h.Digest()
}

// TestTreeHasher_MatchesSum checks the assembled digest against the
// sequential one for lengths around every block and subtree boundary and
// pieces cut anywhere, including empty and one-byte pieces.
func TestTreeHasher_MatchesSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	data := randomBytes(9, 3<<20+77)
	lengths := []int{0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 16383, 16384, 16385, 32768, 100000, 1 << 20, 1<<20 + 1, 3<<20 + 77}
	for range 40 {
		lengths = append(lengths, rng.IntN(len(data)))
	}
	for _, n := range lengths {
		want := Sum(data[:n])
		for trial := range 6 {
			var cuts []int
			switch trial {
			case 0: // one piece
			case 1: // content-defined chunks
				c, _ := NewChunker(bytes.NewReader(data[:n]), Params{})
				at := 0
				for {
					x, err := c.Next()
					if err != nil {
						break
					}
					at += len(x)
					if at < n {
						cuts = append(cuts, at)
					}
				}
			default: // random cuts, some at block boundaries, some repeated
				for range rng.IntN(20) {
					at := rng.IntN(n + 1)
					if rng.IntN(3) == 0 {
						at = at / 1024 * 1024
					}
					cuts = append(cuts, at)
				}
				sortInts(cuts)
			}
			if got := spanDigest(t, data[:n], cuts); got != want {
				t.Fatalf("length %d, cuts %v: %s, want %s", n, cuts, got.Short(), want.Short())
			}
		}
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// TestTreeHasher_MatchesB3sum checks a file hashed in content-defined
// pieces against what b3sum prints.
func TestTreeHasher_MatchesB3sum(t *testing.T) {
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		t.Skip("b3sum not installed (apt-get install b3sum)")
	}
	data := randomBytes(2, 5<<20+333)
	cmd := exec.Command(b3sum, "--no-names")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("b3sum: %v", err)
	}
	var cuts []int
	for at := 200000; at < len(data); at += 131072 + at%4099 {
		cuts = append(cuts, at)
	}
	if got, want := spanDigest(t, data, cuts).String(), strings.TrimSpace(string(out)); got != want {
		t.Fatalf("assembled digest %s, b3sum %s", got, want)
	}
}

func TestTreeHasher_RefusesGaps(t *testing.T) {
	var h TreeHasher
	if err := h.Add(HashSpan(0, make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(HashSpan(200, make([]byte, 100))); err == nil {
		t.Fatal("a span after a gap was accepted")
	}
}

// BenchmarkHashSpan guards the cost of hashing a file's pieces for its
// digest: 128 KiB pieces at unaligned offsets, on one core, against
// zeebo/blake3 over the same bytes.
func BenchmarkHashSpan(b *testing.B) {
	data := randomBytes(4, 64<<20)
	b.Run("spans", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var h TreeHasher
			for at := 0; at < len(data); {
				n := min(131072+at%3001, len(data)-at)
				h.Add(HashSpan(int64(at), data[at:at+n]))
				at += n
			}
			h.Digest()
		}
	})
	b.Run("sequential", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			Sum(data)
		}
	})
}
