package cas

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestCold_ChunksUnreadSinceFirstSeen(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	s := testStore(t, t.TempDir(), Options{Now: clk.Now})
	ctx := t.Context()
	put := func(seed uint64) PutResult {
		r, err := s.Put(ctx, bytes.NewReader(randomBytes(seed, 600<<10)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c, e := put(1), put(2), put(3), put(4)
	cold := func(before time.Time) []Digest {
		t.Helper()
		var all []Digest
		var after Digest
		for {
			page, done, err := s.Cold(ctx, before, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if done {
				return all
			}
			if len(page) == 0 {
				t.Fatal("Cold returned an empty page before the end")
			}
			after = page[len(page)-1]
		}
	}
	// First seen now: nothing is cold yet, however old the writes.
	if got := cold(clk.Now()); len(got) != 0 {
		t.Fatalf("%d chunks cold on the first pass, want none", len(got))
	}
	clk.Add(2 * time.Hour)
	// A read of a's chunks warms them, and so does a reader's read of e's
	// stored forms; a peer's read of b's (replication) does not: b and c
	// stay as first seen.
	for _, r := range a.Recipe {
		if _, err := s.GetChunk(ctx, r.Digest); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range e.Recipe {
		if _, err := s.GetStored(ctx, r.Digest, ForReader); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range b.Recipe {
		if _, err := s.GetStored(ctx, r.Digest, ForPeer); err != nil {
			t.Fatal(err)
		}
	}
	got := cold(clk.Now().Add(-time.Hour))
	want := append(digestsOf(b.Recipe), digestsOf(c.Recipe)...)
	slices.SortFunc(want, func(x, y Digest) int { return bytes.Compare(x[:], y[:]) })
	if !slices.Equal(got, want) {
		t.Fatalf("cold chunks %d, want the %d of the two unread files", len(got), len(want))
	}
	// A deleted chunk leaves no record behind: stored again, it is new.
	if err := s.Delete(ctx, digestsOf(b.Recipe)...); err != nil {
		t.Fatal(err)
	}
	if got := cold(clk.Now().Add(-time.Hour)); len(got) != len(c.Recipe) {
		t.Fatalf("%d cold chunks after deleting b, want c's %d", len(got), len(c.Recipe))
	}
	put(2)
	if got := cold(clk.Now().Add(-time.Hour)); len(got) != len(c.Recipe) {
		t.Fatalf("%d cold chunks after storing b again, want c's %d", len(got), len(c.Recipe))
	}
	// Records survive a restart.
	dir := s.dir
	s.Close()
	s = testStore(t, dir, Options{Now: clk.Now})
	clk.Add(2 * time.Hour)
	all := len(a.Recipe) + len(b.Recipe) + len(c.Recipe) + len(e.Recipe)
	if got := cold(clk.Now().Add(-time.Hour)); len(got) != all {
		t.Fatalf("%d cold chunks after a restart and two hours, want all %d", len(got), all)
	}
}

func digestsOf(r Recipe) []Digest {
	ds := make([]Digest, 0, len(r))
	for _, x := range r {
		if !slices.Contains(ds, x.Digest) {
			ds = append(ds, x.Digest)
		}
	}
	return ds
}
