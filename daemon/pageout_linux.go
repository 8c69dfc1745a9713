//go:build linux

package daemon

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout asks the kernel to reclaim a range's pages now (Linux 5.4
// and later; older kernels refuse it, and nothing happens).
const madvPageout = 21

// pageOutFiles gives back the pages of the files under dir that the
// process maps: the tables, logs and memtable files Badger memory-maps.
// They are page cache the kernel would reclaim under pressure anyway;
// counted in the node's resident set, they make it look several times its
// heap once a snapshot has read the whole state. A page used again is
// read back from the file. It returns the bytes of the ranges advised.
func pageOutFiles(dir string) int64 {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0
	}
	abs = filepath.Clean(abs) + string(filepath.Separator)
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 || !strings.HasPrefix(string(fields[5]), abs) {
			continue
		}
		lo, hi, ok := strings.Cut(string(fields[0]), "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), madvPageout); errno == 0 {
			total += int64(end - start)
		}
	}
	return total
}

// residentBytes returns the process's resident set, from
// /proc/self/statm (0 when it cannot be read).
func residentBytes() int64 { return statm(1) }

// anonymousBytes returns the part of the resident set that is not mapped
// files (resident less shared, in /proc/self/statm): the heap, mostly.
func anonymousBytes() int64 { return statm(1) - statm(2) }

// statm returns field i of /proc/self/statm, in bytes (0 when it cannot
// be read).
func statm(i int) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) <= i {
		return 0
	}
	pages, err := strconv.ParseInt(f[i], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
