//go:build !race

package daemon

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/daemon/internal/proctest"
)

// procMemory returns a process's resident set now and at its peak
// (VmRSS and VmHWM), in bytes.
func procMemory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// TestMemory_AfterUploads runs a node as its own process with the default
// memory budget (512 MiB), stores 3 GiB through it in mixed sizes, four
// at a time, then leaves 100 uploads stalled mid-body and closes their
// sockets. The peak resident set stays within the budget, and within a
// minute of the last request the node is back under 150 MB: nothing a
// request or a connection took outlives it.
func TestMemory_AfterUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 3 GiB")
	}
	dataDir, ports := t.TempDir(), proctest.Listen(t)
	p := startProc(t, dataDir, ports, "--min-free-space", "-1")
	pid := p.cmd.Process.Pid
	if st := call(t, http.MethodPut, p.url+"/v1/buckets/mem", nil, nil); st != 200 {
		t.Fatalf("create bucket: %d", st)
	}
	idle, _ := procMemory(t, pid)

	sizes := []int64{4 << 10, 300 << 10, 5 << 20, 64 << 20, 300 << 20, 1 << 10, 20 << 20}
	var total int64
	var jobs []int64
	for i := 0; total < 3<<30; i++ {
		n := sizes[i%len(sizes)]
		jobs = append(jobs, n)
		total += n
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	for range 4 {
		wg.Go(func() {
			for i := range work {
				body := io.LimitReader(rand.NewChaCha8([32]byte{byte(i), byte(i >> 8)}), jobs[i])
				req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/v1/objects/mem/o%05d", p.url, i), body)
				req.ContentLength = jobs[i]
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Do(func() { t.Errorf("put %d bytes: %v", jobs[i], err) })
				}
			}
		})
	}
	start := time.Now()
	for i := range jobs {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("stored %d objects, %d MiB, in %.1f s", len(jobs), total>>20, time.Since(start).Seconds())

	// 100 uploads that stop mid-body, then go away.
	var conns []net.Conn
	for i := range 100 {
		c, err := net.Dial("tcp", ports.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "PUT /v1/objects/mem/stalled%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", i, 64<<20)
		c.Write(make([]byte, 256<<10))
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second)
	for _, c := range conns {
		c.Close()
	}
	last := time.Now()
	_, peak := procMemory(t, pid)
	var rss int64
	for time.Since(last) < time.Minute {
		if rss, _ = procMemory(t, pid); rss <= 150<<20 {
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("resident: %d MiB idle, %d MiB at the peak, %d MiB %.0f s after the last request",
		idle>>20, peak>>20, rss>>20, time.Since(last).Seconds())
	if peak > DefaultMemoryLimit {
		t.Errorf("the peak resident set, %d MiB, passed the memory budget of %d MiB", peak>>20, DefaultMemoryLimit>>20)
	}
	if rss > 150<<20 {
		t.Errorf("a minute after the last request the node holds %d MiB, more than 150", rss>>20)
	}
}
