package daemon

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestServer_CutsSlowBodies opens uploads whose bodies trickle (a byte
// every 100 ms) or stop after a first burst, on every surface. The node
// cuts each once it has gone BodyTimeout without 1 KiB arriving: the
// client gets 400 RequestTimeout or a closed connection, and nothing is
// stored.
func TestServer_CutsSlowBodies(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.BodyTimeout = 500 * time.Millisecond })
	mkBucket(t, srv, "slow")
	sign := s3Creds(t, srv)
	targets := []string{
		"PUT /v1/objects/slow/native-%d",
		"PUT /api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/mlflow-%d",
	}
	var wg sync.WaitGroup
	results := make(chan string, 64)
	start := time.Now()
	for i := range 10 {
		for j, target := range targets {
			burst := 0
			if i%2 == 1 {
				burst = 200 << 10 // stops after 200 KiB
			}
			wg.Go(func() { results <- slowUpload(t, srv.Addr(), fmt.Sprintf(target, i*10+j), burst) })
		}
	}
	// S3, signed with an unsigned payload, stalls the same way.
	wg.Go(func() {
		req, _ := http.NewRequest("PUT", srv.URL()+"/slow/s3-stalled", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		creds := aws.Credentials{AccessKeyID: sign.AccessKey, SecretAccessKey: sign.SecretKey}
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", s3Region, time.Now()); err != nil {
			t.Error(err)
		}
		results <- slowRaw(t, srv.Addr(), req, 1<<20, 100<<10)
	})
	wg.Wait()
	close(results)
	took := time.Since(start)
	n := 0
	for r := range results {
		n++
		if r != "cut" && !strings.HasPrefix(r, "400") {
			t.Errorf("a slow upload ended with %q, want it cut", r)
		}
	}
	if n != 21 {
		t.Fatalf("%d results", n)
	}
	if took > 10*time.Second {
		t.Fatalf("cutting the slow uploads took %v", took)
	}
	var list struct{ Objects []any }
	call(t, "GET", srv.URL()+"/v1/objects/slow", nil, &list)
	if len(list.Objects) != 0 {
		t.Fatalf("%d objects stored from cut uploads", len(list.Objects))
	}
}

// slowUpload sends a PUT of 1 MiB whose body trickles a byte every 100 ms
// after burst bytes, and says how it ended.
func slowUpload(t *testing.T, addr, target string, burst int) string {
	method, path, _ := strings.Cut(target, " ")
	req, _ := http.NewRequest(method, "http://"+addr+path, nil)
	return slowRaw(t, addr, req, 1<<20, burst)
}

// slowRaw sends req's headers with a Content-Length of size, then burst
// bytes of body at once, then a byte every 100 ms, until the node answers
// or closes the connection: "cut" for a closed or reset connection, or
// the answer's status line.
func slowRaw(t *testing.T, addr string, req *http.Request, size, burst int) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return "dial"
	}
	defer c.Close()
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.Method, req.URL.RequestURI(), addr, size)
	for k, v := range req.Header {
		fmt.Fprintf(c, "%s: %s\r\n", k, v[0])
	}
	io.WriteString(c, "\r\n")
	c.Write(make([]byte, burst))
	answer := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answer <- "cut"
			return
		}
		resp.Body.Close()
		answer <- resp.Status
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case a := <-answer:
			return a
		case <-tick.C:
			if _, err := c.Write([]byte{'x'}); err != nil {
				return "cut"
			}
		case <-deadline:
			return "still open after 20s"
		}
	}
}
