package chunk

import (
	"math/rand/v2"
	"testing"

	"github.com/zeebo/blake3"
	lblake3 "lukechampine.com/blake3"
	"lukechampine.com/blake3/guts"
)

// BenchmarkBLAKE3 guards the choice of BLAKE3 library: zeebo/blake3 and
// lukechampine.com/blake3 hashing one average chunk (128 KiB) and 64 MiB,
// on one core.
func BenchmarkBLAKE3(b *testing.B) {
	for _, n := range []int{DefaultAvgSize, 64 << 20} {
		buf := make([]byte, n)
		rand.NewChaCha8([32]byte{5}).Read(buf)
		name := "128KiB"
		if n > DefaultAvgSize {
			name = "64MiB"
		}
		b.Run("zeebo/"+name, func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				blake3.Sum256(buf)
			}
		})
		b.Run("lukechampine/"+name, func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				lblake3.Sum256(buf)
			}
		})
	}
}

func BenchmarkGutsBuffer(b *testing.B) {
	buf := make([]byte, 64<<20)
	rand.NewChaCha8([32]byte{5}).Read(buf)
	key := guts.IV
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		for i := 0; i < len(buf); i += 16 << 10 {
			guts.CompressBuffer((*[16 << 10]byte)(buf[i:]), 16<<10, &key, uint64(i>>10), 0)
		}
	}
}
