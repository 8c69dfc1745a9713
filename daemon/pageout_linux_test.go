//go:build linux

package daemon

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// mappingRSS returns the resident bytes of the process's mappings of
// path, from /proc/self/smaps.
func mappingRSS(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") {
			in = len(fields) >= 6 && fields[5] == path
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			total += kb << 10
		}
	}
	return total
}

// TestPageOutFiles: the pages of a file the process maps under the data
// folder leave its resident set, and read back the same; a mapping
// elsewhere is left alone.
func TestPageOutFiles(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	const size = 16 << 20
	mapFile := func(dir string) (string, []byte) {
		path := filepath.Join(dir, "000001.sst")
		if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Munmap(b) })
		for i := 0; i < size; i += 4096 {
			b[i] = byte(i / 4096)
		}
		return path, b
	}
	path, b := mapFile(dir)
	otherPath, _ := mapFile(other)
	if rss := mappingRSS(t, path); rss < size/2 {
		t.Fatalf("the mapping holds %d resident bytes after writing every page, want most of %d", rss, size)
	}
	if n := pageOutFiles(dir); n < size {
		t.Fatalf("advised %d bytes, want at least the %d mapped under the folder", n, size)
	}
	if rss := mappingRSS(t, path); rss > size/4 {
		t.Fatalf("the mapping still holds %d resident bytes of %d", rss, size)
	}
	if rss := mappingRSS(t, otherPath); rss < size/2 {
		t.Fatalf("a mapping outside the folder lost its pages: %d resident bytes", rss)
	}
	for i := 0; i < size; i += 4096 {
		if b[i] != byte(i/4096) {
			t.Fatalf("page %d reads back %d", i/4096, b[i])
		}
	}
}
