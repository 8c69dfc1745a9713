//go:build linux

package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/cas"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// mountTmpfs mounts a tmpfs of size bytes in a new folder and unmounts it
// when the test ends (after anything the test registers later). Mounting
// needs root: CI runs as root, so there a failure to mount fails the test;
// elsewhere the test is skipped, and says so on stderr even without -v.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Geteuid() == 0 {
			t.Fatalf("mount a tmpfs as root: %v %s", err, out)
		}
		fmt.Fprintf(os.Stderr, "SKIPPED %s: the disk-full tests mount a tmpfs, which needs root (%v)\n", t.Name(), err)
		t.Skipf("mounting a tmpfs needs root: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// TestServer_DiskFull fills the data folder's file system: writes past the
// reserve get 507 InsufficientStorage on the native API and S3, the node
// keeps running (Badger's memory-mapped value log would otherwise die of
// SIGBUS on the first page it cannot back), every acknowledged object
// reads back, deletes still work, and writes go through again once space
// is freed.
func TestServer_DiskFull(t *testing.T) {
	const reserve = 48 << 20
	fs := mountTmpfs(t, 320<<20)
	filler := filepath.Join(fs, "filler")
	if err := os.WriteFile(filler, make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, func(c *Config) {
		c.DataDir = filepath.Join(fs, "data")
		c.MinFreeSpace = reserve
		c.CAS.ValueLogFileSize = 8 << 20
	})
	mkBucket(t, srv, "full")
	acked := map[string][]byte{}
	var refused *http.Response
	var refusedBody string
	for i := range 40 {
		key := fmt.Sprintf("o%d", i)
		data := content(key, 8<<20)
		req, _ := http.NewRequest(http.MethodPut, objURL(srv, "full", key), bytes.NewReader(data))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			acked[key] = data
			continue
		}
		refused, refusedBody = resp, string(b)
		break
	}
	if refused == nil || refused.StatusCode != http.StatusInsufficientStorage || !strings.Contains(refusedBody, "InsufficientStorage") {
		t.Fatalf("after %d objects the disk did not refuse a write with 507: %v %s", len(acked), refused, refusedBody)
	}
	if len(acked) == 0 {
		t.Fatal("no write went through before the disk filled")
	}
	// Take the file system below the reserve, so that any write is
	// refused, and try S3 with a body small enough for the SDK to send at
	// once (from 2 MB on it asks for 100-continue first).
	free, err := cas.FreeSpace(fs)
	if err != nil {
		t.Fatal(err)
	}
	filler2 := filepath.Join(fs, "filler2")
	if err := os.WriteFile(filler2, make([]byte, free-reserve/2), 0o644); err != nil {
		t.Fatal(err)
	}
	c := s3SDK(t, srv)
	_, err = c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("full"), Key: aws.String("s3"), Body: bytes.NewReader(content("s3", 1<<20))})
	if code, status := s3Code(err); status != http.StatusInsufficientStorage || code != "InsufficientStorage" {
		t.Fatalf("S3 PutObject on a full disk: %v (%s %d)", err, code, status)
	}
	for key, data := range acked {
		if st, b := getConsistent(t, srv, "full", key); st != 200 || !bytes.Equal(b, data) {
			t.Fatalf("acknowledged %s after the disk filled: %d, %d bytes", key, st, len(b))
		}
	}
	// Commands fill the disk too (Raft log, state database): only those
	// that free space go through.
	if st := call(t, http.MethodPut, srv.URL()+"/v1/buckets/another", nil, nil); st != http.StatusInsufficientStorage {
		t.Fatalf("bucket creation on a full disk: %d", st)
	}
	_, err = c.CopyObject(t.Context(), &s3.CopyObjectInput{Bucket: aws.String("full"), Key: aws.String("copy"), CopySource: aws.String("full/o1")})
	if code, status := s3Code(err); status != http.StatusInsufficientStorage || code != "InsufficientStorage" {
		t.Fatalf("S3 CopyObject on a full disk: %v (%s %d)", err, code, status)
	}
	if st := call(t, http.MethodDelete, objURL(srv, "full", "o0"), nil, nil); st != 200 {
		t.Fatalf("delete on a full disk: %d", st)
	}
	if !strings.Contains(metricsText(t, srv), "cairn_store_free_bytes ") {
		t.Fatal("metrics do not report the free space")
	}

	for _, f := range []string{filler, filler2} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	again := content("again", 8<<20)
	if got := putBytes(t, srv, "full", "again", again); got.Size != int64(len(again)) {
		t.Fatalf("put after freeing space: %+v", got)
	}
}

// TestServer_MetadataKeepsReserve: with chunk writes refused, commands
// that write only metadata (S3 CopyObject with new metadata: no chunk
// bytes, but Raft log and state database entries) must not eat the
// reserve either, or the state database's memory-mapped memtable file
// dies of SIGBUS like the value log would.
func TestServer_MetadataKeepsReserve(t *testing.T) {
	const reserve = 8 << 20
	fs := mountTmpfs(t, 256<<20)
	srv := newTestServer(t, func(c *Config) {
		c.DataDir = filepath.Join(fs, "data")
		c.MinFreeSpace = reserve
		c.CAS.ValueLogFileSize = 4 << 20
	})
	mkBucket(t, srv, "full")
	putBytes(t, srv, "full", "src", content("src", 1<<20))
	free, err := cas.FreeSpace(fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fs, "filler"), make([]byte, free-reserve-(1<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := s3SDK(t, srv)
	meta := map[string]string{"a": strings.Repeat("x", 1900)}
	var wg sync.WaitGroup
	var refused atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				key := fmt.Sprintf("%04d-%d-%s", i, g, strings.Repeat("k", 900))
				_, err := c.CopyObject(t.Context(), &s3.CopyObjectInput{Bucket: aws.String("full"), Key: aws.String(key),
					CopySource: aws.String("full/src"), MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta})
				if _, status := s3Code(err); status == http.StatusInsufficientStorage {
					refused.Add(1)
				} else if err != nil {
					t.Errorf("copy: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	free, _ = cas.FreeSpace(fs)
	if refused.Load() == 0 || free < reserve/2 {
		t.Fatalf("%d copies refused; %d bytes free at the end, reserve %d", refused.Load(), free, reserve)
	}
}

// TestCluster_FullNodeSaysSo: a node whose disk is past its reserve
// cannot keep the chunks of an object it missed, so it cannot serve it;
// it must say that its disk is full (507), not that the object does not
// exist, and the other nodes serve it.
func TestCluster_FullNodeSaysSo(t *testing.T) {
	c := newTestCluster(t, 3, steadyLeader, func(cfg *Config) {
		cfg.RepairInterval = time.Hour
		if cfg.NodeID == "node2" {
			cfg.MinFreeSpace = 1 << 62 // as good as full
		}
	})
	w := c.nodes[0]
	mkBucket(t, w, "data")
	data := content("lacked", 3<<20)
	if st, _ := put(t, w, "data", "k", data); st != 200 {
		t.Fatalf("put through node0: %d", st)
	}
	if st, b := getConsistent(t, c.nodes[1], "data", "k"); st != 200 || !bytes.Equal(b, data) {
		t.Fatalf("read through node1: %d", st)
	}
	st, b := getConsistent(t, c.nodes[2], "data", "k")
	if st != http.StatusInsufficientStorage || !strings.Contains(string(b), "InsufficientStorage") {
		t.Fatalf("read through the full node2: %d %s", st, b)
	}
}
