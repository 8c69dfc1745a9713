package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"cairn/client/s3client"
)

// minioBin is where a MinIO server binary may be; the suite runs against
// it too when it is there.
const minioBin = "/work/bin/minio"

// TestS3Client_Cairn runs the s3client suite against a cairn node.
func TestS3Client_Cairn(t *testing.T) {
	srv := newTestServer(t)
	k := s3Creds(t, srv)
	testS3Client(t, srv.URL(), k.AccessKey, k.SecretKey)
}

// TestS3Client_Minio runs the s3client suite against a MinIO server on
// loopback, when its binary is installed.
func TestS3Client_Minio(t *testing.T) {
	endpoint := startMinio(t)
	testS3Client(t, endpoint, "minioadmin", "minioadmin")
}

// startMinio starts MinIO in a temporary folder and returns its endpoint;
// it skips the test when the binary is not installed.
func startMinio(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(minioBin); err != nil {
		t.Skipf("no MinIO binary at %s: the suite ran against cairn only", minioBin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(minioBin, "server", "--quiet", "--address", addr, t.TempDir())
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=minioadmin", "MINIO_ROOT_PASSWORD=minioadmin")
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	endpoint := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return endpoint
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("minio at %s not ready: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testS3Client is the conformance suite of s3client against a real S3
// server at endpoint.
func testS3Client(t *testing.T, endpoint, ak, sk string) {
	ctx := t.Context()
	c, err := s3client.New(s3client.Config{Endpoint: endpoint, AccessKey: ak, SecretKey: sk, ListPageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateBucket(ctx, "s3c"); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	odd := "dir/a b+c%d~e=f&g,h;i:j@k$l(m)!n'o*p/ünï"
	t.Run("PutGetHead", func(t *testing.T) {
		seek := s3Payload(1, 300<<10)
		if err := c.PutObject(ctx, "s3c", odd, bytes.NewReader(seek), int64(len(seek))); err != nil {
			t.Fatalf("put (signed payload): %v", err)
		}
		stream := s3Payload(2, 70<<10)
		if err := c.PutObject(ctx, "s3c", "stream", io.MultiReader(bytes.NewReader(stream)), int64(len(stream))); err != nil {
			t.Fatalf("put (unsigned payload): %v", err)
		}
		if err := c.PutObject(ctx, "s3c", "empty", bytes.NewReader(nil), 0); err != nil {
			t.Fatalf("put empty: %v", err)
		}
		for key, want := range map[string][]byte{odd: seek, "stream": stream, "empty": {}} {
			rc, n, err := c.GetObject(ctx, "s3c", key)
			if err != nil {
				t.Fatalf("get %q: %v", key, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || n != int64(len(want)) || !bytes.Equal(got, want) {
				t.Fatalf("get %q: %d bytes (length %d), err %v; want %d bytes", key, len(got), n, err, len(want))
			}
			info, err := c.HeadObject(ctx, "s3c", key)
			if err != nil || info.Size != int64(len(want)) || info.ETag == "" || info.LastModified.IsZero() {
				t.Fatalf("head %q: %+v %v", key, info, err)
			}
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, _, err := c.GetObject(ctx, "s3c", "nope")
		var e *s3client.Error
		if !errors.Is(err, s3client.ErrNotFound) || !errors.As(err, &e) || e.Code != "NoSuchKey" {
			t.Fatalf("get missing key: %v, want NoSuchKey matching ErrNotFound", err)
		}
		if _, err := c.HeadObject(ctx, "s3c", "nope"); !errors.Is(err, s3client.ErrNotFound) {
			t.Fatalf("head missing key: %v", err)
		}
		if _, _, err := c.GetObject(ctx, "no-such-bucket", "k"); !errors.Is(err, s3client.ErrNotFound) || !errors.As(err, &e) || e.Code != "NoSuchBucket" {
			t.Fatalf("get from missing bucket: %v", err)
		}
		if strings.Contains(err.Error(), "*s3client") {
			t.Fatalf("error names a Go type: %v", err)
		}
	})
	t.Run("List", func(t *testing.T) {
		var want []string
		for i := range 20 {
			k := fmt.Sprintf("list/%02d", i)
			if i == 13 {
				k = "list/13 " + odd
			}
			want = append(want, k)
			if err := c.PutObject(ctx, "s3c", k, strings.NewReader(k), int64(len(k))); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(want)
		var got []string
		for o, err := range c.List(ctx, "s3c", "list/") {
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if o.Size != int64(len(o.Key)) {
				t.Fatalf("list: %q has size %d", o.Key, o.Size)
			}
			got = append(got, o.Key)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("list over pages of 7:\n got %q\nwant %q", got, want)
		}
		n := 0
		for range c.List(ctx, "s3c", "") {
			n++
		}
		if n != 23 {
			t.Fatalf("list the whole bucket: %d keys, want 23", n)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		if err := c.DeleteObject(ctx, "s3c", "stream"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.HeadObject(ctx, "s3c", "stream"); !errors.Is(err, s3client.ErrNotFound) {
			t.Fatalf("head after delete: %v", err)
		}
		if err := c.DeleteObject(ctx, "s3c", "stream"); err != nil {
			t.Fatalf("delete twice: %v", err)
		}
	})
	t.Run("BadSecret", func(t *testing.T) {
		bad, err := s3client.New(s3client.Config{Endpoint: endpoint, AccessKey: ak, SecretKey: sk + "x", Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.HeadObject(ctx, "s3c", "empty")
		var e *s3client.Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusForbidden {
			t.Fatalf("a wrong secret: %v, want 403", err)
		}
		_, _, err = bad.GetObject(ctx, "s3c", "empty")
		if !errors.As(err, &e) || e.Code != "SignatureDoesNotMatch" {
			t.Fatalf("a wrong secret: %v, want SignatureDoesNotMatch", err)
		}
		if strings.Contains(err.Error(), sk) {
			t.Fatal("the error shows the secret")
		}
	})
}
