//go:build unix

package cas

import "syscall"

// FreeSpace returns the bytes an unprivileged writer may still use on the
// file system that holds path.
func FreeSpace(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
