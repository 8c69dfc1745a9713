//go:build !unix

package cas

import "errors"

// FreeSpace is not known on this platform: no write is refused for it.
func FreeSpace(path string) (int64, error) {
	return 0, errors.New("cas: free space unknown on this platform")
}
