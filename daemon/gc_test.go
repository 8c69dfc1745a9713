package daemon

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/cas/chunk"
)

type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestGC_ReclaimsOnlyGarbage(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	srv := newTestServer(t, func(c *Config) { c.Now, c.GCGrace = clock.Now, time.Minute })
	mkBucket(t, srv, "gcb")
	keep := content("keep", 2<<20)
	drop := content("drop", 2<<20)
	putBytes(t, srv, "gcb", "keep", keep)
	putBytes(t, srv, "gcb", "drop", drop)
	if st := call(t, http.MethodDelete, objURL(srv, "gcb", "drop"), nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	before, _ := srv.Store().Stats(t.Context())
	// Within the grace period nothing goes.
	res, err := srv.upkeep.GC(t.Context())
	if err != nil || res.Deleted != 0 {
		t.Fatalf("gc inside the grace period deleted %d (%v)", res.Deleted, err)
	}
	clock.Advance(2 * time.Hour)
	res, err = srv.upkeep.GC(t.Context())
	if err != nil || res.Deleted == 0 {
		t.Fatalf("gc after the grace period: %+v %v", res, err)
	}
	after, _ := srv.Store().Stats(t.Context())
	if after.LogicalBytes != before.LogicalBytes-int64(len(drop)) {
		t.Fatalf("gc freed %d logical bytes, want %d", before.LogicalBytes-after.LogicalBytes, len(drop))
	}
	if st, b := getConsistent(t, srv, "gcb", "keep"); st != 200 || !bytes.Equal(b, keep) {
		t.Fatalf("kept object after gc: %d", st)
	}
}

// TestGC_RacesDedup puts the same content under many keys at once while
// the last reference to it is deleted again and again and GC runs with no
// grace: every acknowledged object must read back whole.
func TestGC_RacesDedup(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.GCGrace = time.Nanosecond })
	mkBucket(t, srv, "gcr")
	body := content("shared", 3<<20)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // delete whatever holds the content, and collect, hot
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			call(t, http.MethodDelete, srv.URL()+"/v1/objects/gcr?prefix=tmp/", nil, nil)
			srv.upkeep.GC(t.Context())
		}
	})
	var acked sync.Map
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				key := fmt.Sprintf("keep/%d-%d", w, i)
				if st, res := put(t, srv, "gcr", key, body); st == 200 && res.Digest == chunk.Sum(body) {
					acked.Store(key, true)
				}
				put(t, srv, "gcr", fmt.Sprintf("tmp/%d-%d", w, i), body)
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	srv.upkeep.GC(t.Context())
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		if st, b := getConsistent(t, srv, "gcr", k.(string)); st != 200 || !bytes.Equal(b, body) {
			t.Fatalf("acknowledged %s after gc: %d, %d bytes", k, st, len(b))
		}
		return true
	})
	if n < 30 {
		t.Fatalf("only %d puts acknowledged", n)
	}
}
