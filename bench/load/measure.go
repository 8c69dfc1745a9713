package load

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"cairn/cas/chunk"

	"github.com/klauspost/compress/zstd"
)

// Latencies collects durations and reports percentiles.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0..100).
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// Ceilings are what this machine does on one core, measured in the same
// run as the targets, so that figures can be given as ratios to them.
type Ceilings struct {
	BLAKE3MBs     float64 `json:"blake3_mb_s"`
	ZstdMBs       float64 `json:"zstd_fastest_mb_s"`
	WriteFsyncMBs float64 `json:"write_fsync_mb_s"`
}

// MeasureCeilings times single-core BLAKE3 and zstd (fastest) over data,
// and a sequential write with fsync of the same bytes in dir.
func MeasureCeilings(data []byte, dir string) (Ceilings, error) {
	var c Ceilings
	mb := float64(len(data)) / 1e6
	start := time.Now()
	chunk.Sum(data)
	c.BLAKE3MBs = mb / time.Since(start).Seconds()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return c, err
	}
	defer enc.Close()
	start = time.Now()
	enc.EncodeAll(data, nil)
	c.ZstdMBs = mb / time.Since(start).Seconds()
	f, err := os.CreateTemp(dir, "ceiling-")
	if err != nil {
		return c, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	start = time.Now()
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := f.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			return c, err
		}
	}
	if err := f.Sync(); err != nil {
		return c, err
	}
	c.WriteFsyncMBs = mb / time.Since(start).Seconds()
	return c, nil
}

// PeakRSS returns the peak resident set of a process in bytes (its
// VmHWM), or 0 when unknown.
func PeakRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
