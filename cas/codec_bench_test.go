package cas

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"cairn/bench/boosters"
	"cairn/cas/chunk"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// boosterFiles returns the distinct 5 MiB boosters of the shared data
// (model, seed2, data2) in one format, each cut into chunks as the store
// cuts them: the bytes the codec choices were measured on.
func boosterFiles(b *testing.B, format string) [][][]byte {
	b.Helper()
	var out [][][]byte
	for _, v := range []string{"model", "seed2", "data2"} {
		data, err := boosters.Read("m", v, format)
		if err != nil {
			b.Skipf("booster data: %v", err)
		}
		var file [][]byte
		c, _ := chunk.NewChunker(bytes.NewReader(data), chunk.Params{})
		for {
			x, err := c.Next()
			if err != nil {
				break
			}
			file = append(file, bytes.Clone(x))
		}
		out = append(out, file)
	}
	return out
}

// boosterChunks returns the chunks of boosterFiles, one after another.
func boosterChunks(b *testing.B, format string) [][]byte {
	var out [][]byte
	for _, f := range boosterFiles(b, format) {
		out = append(out, f...)
	}
	return out
}

// benchCodecs are the encoders compared by BenchmarkCodec: S2 (the inline
// codec candidates), and zstd at the levels the compactor could use.
func benchCodecs(b *testing.B) []struct {
	name string
	enc  func(dst, src []byte) []byte
} {
	zenc := func(l zstd.EncoderLevel) func(dst, src []byte) []byte {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false),
			zstd.WithZeroFrames(true), zstd.WithWindowSize(DefaultCompactFrame))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close() })
		return func(dst, src []byte) []byte { return e.EncodeAll(src, dst[:0]) }
	}
	return []struct {
		name string
		enc  func(dst, src []byte) []byte
	}{
		{"raw", func(dst, src []byte) []byte { return append(dst[:0], src...) }},
		{"s2", s2.Encode},
		{"s2better", s2.EncodeBetter},
		{"zstd-fastest", zenc(zstd.SpeedFastest)},
		{"zstd-default", zenc(zstd.SpeedDefault)},
		{"zstd-better", zenc(zstd.SpeedBetterCompression)},
		{"zstd-best", zenc(zstd.SpeedBestCompression)},
	}
}

// BenchmarkCodec guards the choice of codecs: each candidate encodes the
// chunks of the real 5 MiB boosters on one core, a chunk at a time, and
// zstd also runs of chunks of a file (1 and 4 MiB) as one frame, as the
// compactor does. It reports the ratio (logical over stored bytes), the
// encoding rate, and saved-MB/cpu-s: the bytes saved against storing raw,
// per CPU-second of encoding, the figure the compactor's level is chosen
// by. The inline codec must keep up with the disk; the compactor's level
// must save the most per CPU-second among those that make the store at
// most 0.9x of zstd fastest a chunk (format 1).
func BenchmarkCodec(b *testing.B) {
	for _, format := range []string{"json", "ubj", "xgb"} {
		files := boosterFiles(b, format)
		var logical int64
		for _, f := range files {
			for _, c := range f {
				logical += int64(len(c))
			}
		}
		for _, c := range benchCodecs(b) {
			frames := []int{0}
			if strings.HasPrefix(c.name, "zstd") {
				frames = []int{0, 1 << 20, 4 << 20}
			}
			for _, frame := range frames {
				name := format + "/" + c.name
				if frame > 0 {
					name += fmt.Sprintf("/%dMiB", frame>>20)
				}
				b.Run(name, func(b *testing.B) {
					dst := make([]byte, 0, s2.MaxEncodedLen(8<<20))
					var group []byte
					var stored int64
					b.SetBytes(logical)
					for b.Loop() {
						stored = 0
						for _, f := range files {
							for i, x := range f {
								if frame == 0 {
									dst = c.enc(dst, x)
									stored += int64(len(dst))
									continue
								}
								group = append(group, x...)
								if len(group) >= frame || i == len(f)-1 {
									dst = c.enc(dst, group)
									stored += int64(len(dst))
									group = group[:0]
								}
							}
						}
					}
					perRun := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(logical)/float64(stored), "ratio")
					b.ReportMetric(float64(logical-stored)/1e6/perRun, "saved-MB/cpu-s")
				})
			}
		}
	}
}

// BenchmarkDecode guards the read side of the codec choice: decoding (not
// verifying) the boosters' chunks in each stored form on one core.
func BenchmarkDecode(b *testing.B) {
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.IgnoreChecksum(true))
	if err != nil {
		b.Fatal(err)
	}
	defer zdec.Close()
	for _, format := range []string{"json", "ubj", "xgb"} {
		chunks := boosterChunks(b, format)
		var logical int64
		for _, c := range chunks {
			logical += int64(len(c))
		}
		for _, c := range benchCodecs(b) {
			if c.name == "raw" {
				continue
			}
			var forms [][]byte
			for _, x := range chunks {
				forms = append(forms, c.enc(nil, x))
			}
			dec := func(dst, src []byte) ([]byte, error) { return zdec.DecodeAll(src, dst[:0]) }
			if c.name[:2] == "s2" {
				dec = s2.Decode
			}
			b.Run(format+"/"+c.name, func(b *testing.B) {
				dst := make([]byte, 0, chunk.DefaultMaxSize+decodeSlack)
				b.SetBytes(logical)
				for b.Loop() {
					for _, f := range forms {
						if dst, err = dec(dst, f); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
