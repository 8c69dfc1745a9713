package cas

import (
	"context"
	"encoding/binary"
	"sync"
	"time"
)

// touches remembers which chunks writers have looked at recently, so that
// garbage collection never deletes a chunk that a write in progress found
// present and is about to reference. A writer touches a chunk before it
// checks whether the store has it; Collect checks and deletes under the
// same lock, so a deletion and a dedup hit cannot interleave.
//
// It is a ring of Bloom filters, one per generation: bounded memory, and a
// false positive only spares a chunk until a later collection. Every chunk
// counts as touched when the store opened, since the leases of writes in
// flight before a restart were lost with the process.
type touches struct {
	mu     sync.Mutex
	opened time.Time
	now    func() time.Time
	gens   []*touchGen // oldest first; the last is current
}

type touchGen struct {
	start time.Time
	n     int
	bits  []uint64
}

const (
	touchBits    = 1 << 23 // 1 MiB per generation
	touchHashes  = 5
	touchGenSpan = 5 * time.Minute
	touchGenMax  = 1 << 20 // entries before a generation is closed early
)

func newTouches(now func() time.Time) *touches {
	t := &touches{now: now, opened: now()}
	t.gens = []*touchGen{{start: t.opened, bits: make([]uint64, touchBits/64)}}
	return t
}

func (t *touches) touch(ds ...Digest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	g := t.gens[len(t.gens)-1]
	for _, d := range ds {
		if g.n >= touchGenMax || now.Sub(g.start) > touchGenSpan {
			g = &touchGen{start: now, bits: make([]uint64, touchBits/64)}
			t.gens = append(t.gens, g)
		}
		for i := range touchHashes {
			b := binary.LittleEndian.Uint32(d[4*i:]) % touchBits
			g.bits[b/64] |= 1 << (b % 64)
		}
		g.n++
	}
}

// touchedSince reports whether d may have been touched at or after since.
// The caller holds t.mu.
func (t *touches) touchedSince(d Digest, since time.Time) bool {
	if !since.After(t.opened) {
		return true
	}
	for i, g := range t.gens {
		// A generation takes no touch after its span, nor after the
		// next one started.
		end := g.start.Add(touchGenSpan)
		if i+1 < len(t.gens) && t.gens[i+1].start.Before(end) {
			end = t.gens[i+1].start
		}
		if end.Before(since) {
			continue
		}
		hit := true
		for k := range touchHashes {
			b := binary.LittleEndian.Uint32(d[4*k:]) % touchBits
			if g.bits[b/64]&(1<<(b%64)) == 0 {
				hit = false
				break
			}
		}
		if hit {
			return true
		}
	}
	return false
}

// forget drops generations that ended before since.
func (t *touches) forget(since time.Time) {
	for len(t.gens) > 1 && t.gens[1].start.Before(since) {
		t.gens = t.gens[1:]
	}
}

// CollectResult reports a Collect call.
type CollectResult struct {
	Deleted int64 // chunks deleted
	Freed   int64 // their stored bytes
}

// Collect deletes those of the given chunks that no writer has touched
// since idleSince. The caller decides which chunks are garbage (the
// replicated reference counts say so); Collect guarantees that a chunk a
// concurrent write found present, or asked about, within the grace period
// survives.
func (s *Store) Collect(ctx context.Context, candidates []Digest, idleSince time.Time) (CollectResult, error) {
	if err := s.checkOpen(); err != nil {
		return CollectResult{}, err
	}
	t := s.touches
	t.mu.Lock()
	defer t.mu.Unlock()
	var doomed []Digest
	for _, d := range candidates {
		if !t.touchedSince(d, idleSince) {
			doomed = append(doomed, d)
		}
	}
	t.forget(idleSince)
	if len(doomed) == 0 {
		return CollectResult{}, nil
	}
	before, _ := s.Stats(ctx)
	if err := s.Delete(ctx, doomed...); err != nil {
		return CollectResult{}, err
	}
	after, _ := s.Stats(ctx)
	return CollectResult{Deleted: before.Chunks - after.Chunks, Freed: before.StoredBytes - after.StoredBytes}, nil
}
