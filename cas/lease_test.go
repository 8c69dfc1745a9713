package cas

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestStore_Collect(t *testing.T) {
	clock := &fakeClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: testLogger(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	a := mustPut(t, s, compressible(1, 100<<10))
	b := mustPut(t, s, compressible(2, 100<<10))
	candidates := []Digest{a.Recipe[0].Digest, b.Recipe[0].Digest}

	// Everything counts as touched when the store opened.
	if r, err := s.Collect(ctx, candidates, clock.Now()); err != nil || r.Deleted != 0 {
		t.Fatalf("collect right after open deleted %d (%v)", r.Deleted, err)
	}
	clock.Advance(time.Hour)
	idle := clock.Now()
	clock.Advance(time.Minute)
	// A writer asks about b: it must survive.
	if m, _ := s.Missing(ctx, []Digest{b.Recipe[0].Digest}); len(m) != 0 {
		t.Fatal("b reported missing")
	}
	var storedA int64
	if err := s.Walk(ctx, func(d Digest, stored int64) error {
		if d == a.Recipe[0].Digest {
			storedA = stored
		}
		return nil
	}); err != nil || storedA == 0 {
		t.Fatalf("walk: %v, a's stored size %d", err, storedA)
	}
	r, err := s.Collect(ctx, candidates, idle)
	if err != nil || r.Deleted != 1 || r.Freed != storedA {
		t.Fatalf("collect deleted %d chunks, %d bytes (%v); want 1, %d", r.Deleted, r.Freed, err, storedA)
	}
	if ok, _ := s.Has(ctx, a.Recipe[0].Digest); ok {
		t.Fatal("idle chunk a survived collection")
	}
	if ok, _ := s.Has(ctx, b.Recipe[0].Digest); !ok {
		t.Fatal("touched chunk b was collected")
	}
}

// TestStore_CollectRacesDedup puts the same content over and over while
// collection runs with no grace at all: every Put that returns must leave
// all of its chunks in the store, because a dedup hit touches the chunk
// before Collect can take it.
func TestStore_CollectRacesDedup(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	data := compressible(9, 2<<20)
	first := mustPut(t, s, data)
	digests := first.Recipe.Distinct()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.Collect(ctx, digests, time.Now())
		}
	})
	for i := range 40 {
		res, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Recipe.Distinct() {
			// The Put's own touch protects its chunks until a later
			// collection; check at once, as a commit would.
			if _, err := s.GetChunk(ctx, d); err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("put %d returned, but chunk %s is gone: %v", i, d.Short(), err)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// TestView_DropsDeletedChunks: Put's workers look chunks up in a read
// transaction they keep; a chunk deleted after it opened must not be
// reported present, or a file would reference a chunk that is gone.
func TestView_DropsDeletedChunks(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	x := mustPut(t, s, compressible(3, 64<<10)).Recipe[0].Digest
	y := mustPut(t, s, compressible(4, 64<<10)).Recipe[0].Digest

	v := s.newView()
	defer v.close()
	if ok, err := v.has(ctx, x); err != nil || !ok {
		t.Fatalf("view: has(x) = %v, %v before any delete", ok, err)
	}
	if err := s.Delete(ctx, x); err != nil {
		t.Fatal(err)
	}
	if ok, err := v.has(ctx, x); err != nil || ok {
		t.Fatalf("view: has(x) = %v, %v after x was deleted", ok, err)
	}

	// A view opened while a Delete runs takes no transaction of its own:
	// that Delete may remove chunks after the transaction's read point.
	s.deleting.Add(1)
	w := s.newView()
	defer w.close()
	ok, err := w.has(ctx, y)
	open := w.txn != nil
	s.deleting.Add(-1)
	if err != nil || !ok || open {
		t.Fatalf("view opened during a delete: has(y) = %v, %v, kept a transaction: %v", ok, err, open)
	}
}

// TestStore_PutRacesCollect re-puts a file while Collect deletes its
// chunks, whose grace period has passed: whichever wins each chunk, a
// Put that returns leaves all of its chunks in the store.
func TestStore_PutRacesCollect(t *testing.T) {
	clock := &fakeClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	s, err := Open(t.TempDir(), Options{Logger: testLogger(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	data := compressible(11, 24<<20)
	lost := 0
	for i := range 12 {
		first := mustPut(t, s, data)
		clock.Advance(time.Hour) // every chunk's touch is now old
		idle := clock.Now()
		clock.Advance(time.Minute)
		var wg sync.WaitGroup
		var res PutResult
		var perr error
		started := make(chan struct{})
		wg.Go(func() {
			close(started)
			res, perr = s.Put(ctx, bytes.NewReader(data))
		})
		<-started
		time.Sleep(time.Duration(i) * time.Millisecond)
		if _, err := s.Collect(ctx, first.Recipe.Distinct(), idle); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if perr != nil {
			t.Fatal(perr)
		}
		for _, d := range res.Recipe.Distinct() {
			if _, err := s.GetChunk(ctx, d); err != nil {
				lost++
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d chunks of returned Puts are gone", lost)
	}
}

// TestView_StalledPutDoesNotPinReclaim: a Put whose input stalls must not
// keep a read transaction open meanwhile, or Badger could not drop the
// old versions of chunks deleted since; nor may it keep Reclaim from the
// packs it does not write to.
func TestView_StalledPutDoesNotPinReclaim(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: testLogger(t), PackSize: 2 << 20, NoCompactor: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var doomed []Digest
	for i := range 6 {
		doomed = append(doomed, mustPut(t, s, randomBytes(uint64(100+i), 4<<20)).Recipe.Distinct()...)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(t.Context(), pr)
		done <- err
	}()
	if _, err := io.Copy(pw, bytes.NewReader(randomBytes(999, 12<<20))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second + 500*time.Millisecond) // the body stalls
	if err := s.Delete(t.Context(), doomed...); err != nil {
		t.Fatal(err)
	}
	rr, err := s.Reclaim(t.Context(), 0.5)
	pw.Close()
	if perr := <-done; perr != nil {
		t.Fatalf("put: %v", perr)
	}
	if err != nil || rr.Rewritten == 0 {
		t.Fatalf("reclaim while a put stalls: %+v, %v; want packs rewritten", rr, err)
	}
}

// TestView_CloseDuringPut closes the store while Puts are running: they
// fail, and Close returns (a read transaction discarded after the
// database closed could block for ever).
func TestView_CloseDuringPut(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { s.Put(context.Background(), bytes.NewReader(randomBytes(uint64(i), 16<<20))) })
	}
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return while Puts ran")
	}
	wg.Wait()
}
