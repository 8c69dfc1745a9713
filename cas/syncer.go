package cas

import (
	"fmt"
	"sync"
)

// syncer makes writes durable with group commit: callers that arrive while
// a sync runs wait for one more sync, which starts after their writes and
// covers all of them at once. A failed sync fails the store for good
// (after an fsync error, retrying can report success for lost data).
type syncer struct {
	fn func() error

	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	next    *syncRound
	err     error // sticky: the first sync failure
}

type syncRound struct {
	done bool
	err  error
}

func newSyncer(fn func() error) *syncer {
	s := &syncer{fn: fn}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// Sync returns once a sync that started after the call has finished.
func (s *syncer) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.next == nil {
		s.next = &syncRound{}
	}
	r := s.next
	for s.running && !r.done {
		s.cond.Wait()
	}
	if r.done {
		return r.err
	}
	s.running = true
	s.next = nil
	s.mu.Unlock()
	err := s.fn()
	s.mu.Lock()
	if err != nil {
		err = fmt.Errorf("%w: sync: %v", ErrFailed, err)
		s.err = err
	}
	r.done, r.err = true, err
	s.running = false
	s.cond.Broadcast()
	return err
}

// setFailed fails the store for good with err, unless it already failed,
// and returns the sticky error.
func (s *syncer) setFailed(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return s.err
}

func (s *syncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
