package client

import (
	"context"
	"sync"

	"cairn/cas/chunk"
)

// group runs goroutines that share a context, which the first error
// cancels; Wait returns that error. It is errgroup's core, kept here so
// the client needs only the standard library.
type group struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) Go(fn func() error) {
	g.wg.Go(func() {
		if err := fn(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel()
			})
		}
	})
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

// limiter bounds the chunk transfers in flight across all the files of
// one Put or Get.
type limiter chan struct{}

func newLimiter(n int) limiter { return make(limiter, n) }

// acquire takes a slot, or fails when ctx ends first.
func (l limiter) acquire(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l limiter) release() { <-l }

// transfer is the state one Put or Get shares among its files: the bound
// on chunk transfers in flight, and the chunks being or already uploaded,
// so that two files with a chunk in common send it once.
type transfer struct {
	c    *Client
	lim  limiter
	mu   sync.Mutex
	sent map[chunk.Digest]*sending
	// recent, when not nil, bounds what the transfer remembers: the
	// chunks in flight and the last len(recent) sent, so that its memory
	// stays bounded however many puts share it (later ones learn from
	// the server's answer that it has a chunk it forgot).
	recent []chunk.Digest
	next   int
}

type sending struct {
	done chan struct{}
	err  error
}

func newTransfer(c *Client) *transfer {
	return &transfer{c: c, lim: newLimiter(c.cfg.Parallelism), sent: map[chunk.Digest]*sending{}}
}

// claim returns the upload of d and whether the caller owns it: the owner
// sends the chunk and calls finish; the others wait for it.
func (t *transfer) claim(d chunk.Digest) (*sending, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.sent[d]; ok {
		return s, false
	}
	s := &sending{done: make(chan struct{})}
	t.sent[d] = s
	return s, true
}

func (t *transfer) finish(d chunk.Digest, s *sending, err error) {
	s.err = err
	switch {
	case err != nil:
		t.mu.Lock()
		delete(t.sent, d)
		t.mu.Unlock()
	case t.recent != nil:
		t.mu.Lock()
		if old := t.recent[t.next]; old != (chunk.Digest{}) {
			if o, ok := t.sent[old]; ok && o != s {
				select {
				case <-o.done:
					delete(t.sent, old)
				default: // still in flight: keep it
				}
			}
		}
		t.recent[t.next] = d
		t.next = (t.next + 1) % len(t.recent)
		t.mu.Unlock()
	}
	close(s.done)
}

// wait waits for another file's upload of a chunk.
func (s *sending) wait(ctx context.Context) error {
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
