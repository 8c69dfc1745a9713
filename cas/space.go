package cas

import (
	"fmt"
	"time"
)

// CheckSpace returns ErrNoSpace if writing need more bytes would leave
// less than Options.MinFreeSpace free on the store's file system. A
// caller about to receive a body of known length asks before it reads
// it; every chunk write asks again.
func (s *Store) CheckSpace(need int64) error {
	if s.opts.MinFreeSpace <= 0 {
		return nil
	}
	free, err := FreeSpace(s.dir)
	if err != nil {
		// Cannot tell (statfs failed, or no statfs on this platform):
		// refusing every write for it would be worse.
		return nil
	}
	if free-need >= s.opts.MinFreeSpace {
		return nil
	}
	now := time.Now().UnixNano()
	if last := s.spaceWarned.Load(); now-last > int64(time.Minute) && s.spaceWarned.CompareAndSwap(last, now) {
		s.log.Warn("refusing writes: the disk is nearly full", "free", free, "reserve", s.opts.MinFreeSpace, "dir", s.dir)
	}
	return fmt.Errorf("%w: %d bytes free, %d to be written, %d kept in reserve", ErrNoSpace, free, need, s.opts.MinFreeSpace)
}

// FreeSpace returns the bytes an unprivileged writer may still use on the
// file system that holds the store.
func (s *Store) FreeSpace() (int64, error) { return FreeSpace(s.dir) }
