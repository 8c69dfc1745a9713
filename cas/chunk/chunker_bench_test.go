package chunk

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// BenchmarkCut guards the chunker's speed: the gear-hash scan that finds
// chunk boundaries, on one core, as a ratio to one BLAKE3 pass over the
// same bytes measured in the same run (x-blake3 above 1 means the cut is
// faster than hashing). Re-logging a stored file costs a cut plus two
// hash passes, so the cut must stay near one hash pass.
func BenchmarkCut(b *testing.B) {
	data := randomBytes(1, 64<<20)
	p := DefaultParams()
	b.SetBytes(int64(len(data)))
	var hash time.Duration
	for b.Loop() {
		b.StopTimer()
		start := time.Now()
		Sum(data)
		hash += time.Since(start)
		b.StartTimer()
		for rest := data; len(rest) > 0; {
			rest = rest[p.Cut(rest):]
		}
	}
	b.ReportMetric(float64(hash)/float64(b.Elapsed()), "x-blake3")
}

// BenchmarkChunker measures the streaming Chunker, which adds one copy
// to the cut.
func BenchmarkChunker(b *testing.B) {
	data := randomBytes(1, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c, _ := NewChunker(bytes.NewReader(data), Params{})
		for {
			if _, err := c.Next(); err == io.EOF {
				break
			}
		}
	}
}
