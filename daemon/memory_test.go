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
// memory budget (512 MiB). 100 uploads that stall and go away leave it
// within 32 MiB of its idle figure. Then it stores 3 GiB in mixed sizes, four
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

	// First, on the fresh node: uploads that stall, then go away, leave
	// nothing behind (each once held a few MiB for good).
	stall(t, ports.HTTPAddr, 100)
	settled := settle(t, pid, idle+32<<20)
	t.Logf("resident: %d MiB idle, %d MiB once 100 stalled uploads closed", idle>>20, settled>>20)
	if settled > idle+32<<20 {
		t.Errorf("after 100 stalled uploads closed the node holds %d MiB, idle it held %d", settled>>20, idle>>20)
	}

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

	stall(t, ports.HTTPAddr, 100)
	last := time.Now()
	_, peak := procMemory(t, pid)
	rss := settle(t, pid, 150<<20)
	t.Logf("resident: %d MiB idle, %d MiB at the peak, %d MiB %.0f s after the last request",
		idle>>20, peak>>20, rss>>20, time.Since(last).Seconds())
	if peak > DefaultMemoryLimit {
		t.Errorf("the peak resident set, %d MiB, passed the memory budget of %d MiB", peak>>20, DefaultMemoryLimit>>20)
	}
	if rss > 150<<20 {
		t.Errorf("a minute after the last request the node holds %d MiB, more than 150", rss>>20)
	}
}

// stall starts n uploads of 64 MiB that stop after 256 KiB, waits, closes
// their sockets, and waits for the node to take uploads again: a closed
// socket must give back its upload slot, within seconds.
func stall(t *testing.T, addr string, n int) {
	t.Helper()
	var conns []net.Conn
	for i := range n {
		c, err := net.Dial("tcp", addr)
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := call(t, http.MethodPut, "http://"+addr+"/v1/objects/mem/after-stall", strings.NewReader("x"), nil)
		if st == http.StatusOK {
			return
		}
		if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the stalled uploads closed, a PUT answers %d", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settle waits up to a minute for the process's resident set to fall to
// at most limit, and returns it.
func settle(t *testing.T, pid int, limit int64) int64 {
	t.Helper()
	start := time.Now()
	for {
		rss, _ := procMemory(t, pid)
		if rss <= limit || time.Since(start) > time.Minute {
			return rss
		}
		time.Sleep(time.Second)
	}
}
