package hashpipe

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestWriterPassesEverythingInOrder writes bodies around the inline limit
// and the block size in writes of several sizes: the hash behind the
// Writer sees exactly the bytes, in order.
func TestWriterPassesEverythingInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, Inline - 1, Inline, Inline + 1, Inline + blockSize*blocks*3 + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		want := sha256.Sum256(data)
		for _, step := range []int{1 << 10, 70001, blockSize, 3 << 20} {
			if size > 4<<20 && step == 1<<10 {
				continue
			}
			h := sha256.New()
			p := New(h)
			for rest := data; len(rest) > 0; {
				k := min(step, len(rest))
				if n, err := p.Write(rest[:k]); n != k || err != nil {
					t.Fatalf("write: %d, %v", n, err)
				}
				rest = rest[k:]
			}
			p.Close()
			p.Close()
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Fatalf("size %d step %d: hash differs", size, step)
			}
			if p.Aside() != (size > Inline) {
				t.Fatalf("size %d: aside %v", size, p.Aside())
			}
		}
	}
}
