//go:build !linux

package daemon

// pageOutFiles does nothing where the kernel has no MADV_PAGEOUT.
func pageOutFiles(dir string) int64 { return 0 }

// residentBytes is not known here: 0.
func residentBytes() int64 { return 0 }

// anonymousBytes is not known here: nil, so nothing is measured by it.
var anonymousBytes func() int64
