//go:build !linux

package cas

import "os"

// fdatasync makes f's written bytes durable.
func fdatasync(f *os.File) error { return f.Sync() }
