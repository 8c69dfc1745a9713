//go:build !race

package daemon

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestGC_FreesDisk: deleting 1 GiB of unique data, uploaded longer than
// the grace period ago, gives the disk back on its own: within two GC
// intervals of the delete, with no operator step,
// the data folder is back within 10% of its size before the upload
// (GC deletes the chunks; the compactor removes or rewrites the packs
// they were in).
func TestGC_FreesDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	const interval = 3 * time.Second
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	srv := newTestServer(t, func(c *Config) {
		c.Now, c.GCInterval, c.GCGrace, c.MinFreeSpace = clock.Now, interval, time.Minute, -1
	})
	mkBucket(t, srv, "big")
	putBytes(t, srv, "big", "small", content("small", 64<<10)) // the store in use, before
	before := dirBytes(t, srv.cfg.DataDir)
	body := io.LimitReader(rand.NewChaCha8([32]byte{7}), 1<<30)
	if st := call(t, http.MethodPut, objURL(srv, "big", "unique"), body, nil); st != 200 {
		t.Fatalf("put 1 GiB: %d", st)
	}
	full := dirBytes(t, srv.cfg.DataDir)
	if full < before+900<<20 {
		t.Fatalf("the data folder grew from %d to %d bytes for 1 GiB: the test would prove nothing", before, full)
	}
	// The upload is older than the grace period by the time it goes.
	clock.Advance(time.Hour)
	if st := call(t, http.MethodDelete, objURL(srv, "big", "unique"), nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	deleted := time.Now()
	limit := before + before/10
	var now int64
	for time.Since(deleted) < 2*interval {
		if now = dirBytes(t, srv.cfg.DataDir); now <= limit {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("data folder: %d MiB before the upload, %d MiB with it, %d MiB %.1f s after the delete",
		before>>20, full>>20, now>>20, time.Since(deleted).Seconds())
	if now > limit {
		t.Fatalf("two GC intervals after deleting 1 GiB the data folder takes %d bytes, more than 10%% over the %d before the upload", now, before)
	}
	if st, b := getConsistent(t, srv, "big", "small"); st != 200 || !bytes.Equal(b, content("small", 64<<10)) {
		t.Fatalf("the object kept: %d", st)
	}
}

// dirBytes returns the disk space the files under dir take (allocated
// blocks, as du counts them).
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
