package cas

import (
	"os"
	"syscall"
)

// fdatasync makes f's written bytes durable, and the metadata needed to
// read them back (its length), without its times.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
