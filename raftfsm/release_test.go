package raftfsm

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestReleaseMemtable reopens the state under its applies and readers:
// below the threshold it does nothing; a snapshot being written keeps it
// from running; otherwise the state reads and takes writes as before,
// through the release and after a restart.
func TestReleaseMemtable(t *testing.T) {
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	put := func(i int) {
		h.ok(t, &PutObject{Bucket: "bkt", Key: fmt.Sprintf("k%04d", i), File: smallFile(fmt.Sprint(i))})
	}
	for i := range 200 {
		put(i)
	}
	if h.f.written.Load() == 0 {
		t.Fatal("nothing counted as written")
	}
	if ok, err := h.f.releaseMemtable(1<<40, nil); ok || err != nil {
		t.Fatalf("below the threshold: released %v, %v", ok, err)
	}
	if ok, err := h.f.releaseMemtable(1, nil); !ok || err != nil {
		t.Fatalf("released %v, %v", ok, err)
	}
	if n := h.f.written.Load(); n != 0 {
		t.Fatalf("%d bytes counted after the release", n)
	}
	if st := mustStats(t, h.s); st.Objects != 200 {
		t.Fatalf("after the release: %+v", st)
	}

	// A snapshot holds the state: no release until it is done.
	put(200)
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.f.releaseMemtable(1, nil); ok || err != nil {
		t.Fatalf("under a snapshot: released %v, %v", ok, err)
	}
	snap.Release()

	// Applies and reads go on while it runs.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// often runs fn every millisecond until stop closes or fn fails.
	often := func(fn func() error) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := fn(); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	often(func() error {
		if _, err := h.s.Stats(); err != nil {
			return fmt.Errorf("read during releases: %w", err)
		}
		return nil
	})
	var released int
	often(func() error {
		ok, err := h.f.releaseMemtable(1, nil)
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		if ok {
			released++
		}
		return nil
	})
	for i := 201; i < 400; i++ {
		put(i)
	}
	close(stop)
	wg.Wait()
	if released == 0 {
		t.Fatal("no release ran beside the applies")
	}
	t.Logf("%d releases beside 199 applies", released)
	applied, _ := h.f.Applied()
	if want := uint64(len(h.log)); applied != want {
		t.Fatalf("applied %d, want %d", applied, want)
	}
	h.reopen(t)
	if st := mustStats(t, h.s); st.Objects != 400 {
		t.Fatalf("after a restart: %+v", st)
	}
	if applied, _ := h.f.Applied(); applied != uint64(len(h.log)) {
		t.Fatalf("after a restart applied %d, want %d", applied, len(h.log))
	}
	put(400)
}
