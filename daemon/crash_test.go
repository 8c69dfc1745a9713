package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/internal/proctest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// cairnBinary builds cmd/cairn once per test run (or takes $CAIRN_BIN).
func cairnBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CAIRN_BIN"); p != "" {
		return p
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "cairn")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/cairn").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a cairn serve process. done is closed when it exits, after
// err is set.
type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	err  error
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait() error {
	<-p.done
	return p.err
}

func startProc(t testing.TB, dataDir string, ports *proctest.Ports, extra ...string) *proc {
	t.Helper()
	p := launchProc(t, dataDir, ports, extra...)
	waitReady(t, p.url)
	return p
}

// launchProc starts a process on the test's sockets without waiting for
// it to be ready: a cluster member is ready only once a quorum runs.
func launchProc(t testing.TB, dataDir string, ports *proctest.Ports, extra ...string) *proc {
	t.Helper()
	// As newTestServer's: these tests are about what a node does, not who
	// may ask it.
	args := append([]string{"serve", "--data-dir", dataDir, "--http-addr", ports.HTTPAddr, "--raft-addr", ports.ClusterAddr,
		"--log-level", "warn", "--insecure-anonymous", "all"}, extra...)
	cmd := exec.Command(cairnBinary(t), args...)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := ports.Start(t, cmd); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, url: "http://" + ports.HTTPAddr, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		p.wait()
	})
	return p
}

// content is the deterministic body of an object, so a reader can tell a
// complete object from a partial one.
func content(key string, n int) []byte {
	b := make([]byte, n)
	seed := [32]byte{}
	copy(seed[:], key)
	rand.NewChaCha8(seed).Read(b)
	return b
}

func TestCrash_KillDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dataDir, ports := t.TempDir(), proctest.Listen(t)
	p := startProc(t, dataDir, ports)
	if st := call(t, http.MethodPut, p.url+"/v1/buckets/crash", nil, nil); st != 200 {
		t.Fatalf("create bucket: %d", st)
	}
	type acked struct {
		key    string
		digest chunk.Digest
	}
	var mu sync.Mutex
	var done []acked
	sizes := map[string]int{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d/obj%04d", w, i)
				n := 1 + (w*7919+i*104729)%(3<<20)
				mu.Lock()
				sizes[key] = n
				mu.Unlock()
				body := content(key, n)
				req, _ := http.NewRequest(http.MethodPut, p.url+"/v1/objects/crash/"+key, bytes.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server died mid-request
				}
				var res client.PutResult
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if err == nil && resp.StatusCode == 200 {
					mu.Lock()
					done = append(done, acked{key, res.Digest})
					mu.Unlock()
				}
			}
		})
	}
	// Kill once a good number of writes were acknowledged.
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(done) >= 40 })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait()
	close(stop)
	wg.Wait()
	if len(done) < 10 {
		t.Fatalf("only %d writes acknowledged before the kill", len(done))
	}

	p2 := startProc(t, dataDir, ports)
	for _, a := range done {
		resp, err := http.Get(p2.url + "/v1/objects/crash/" + a.key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || chunk.Sum(b) != a.digest || !bytes.Equal(b, content(a.key, sizes[a.key])) {
			t.Fatalf("acknowledged %s: status %d, %d bytes, digest mismatch after restart", a.key, resp.StatusCode, len(b))
		}
	}
	// Whatever else is listed must be complete: no partial object.
	var list client.ListResult
	call(t, http.MethodGet, p2.url+"/v1/objects/crash?limit=1000", nil, &list)
	for _, o := range list.Objects {
		if o.Size != int64(sizes[o.Key]) || o.Digest != chunk.Sum(content(o.Key, sizes[o.Key])) {
			t.Fatalf("listed %s is not the complete object (size %d, want %d)", o.Key, o.Size, sizes[o.Key])
		}
	}
	t.Logf("%d acknowledged writes survived kill -9; %d objects listed after restart", len(done), len(list.Objects))
}

func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dataDir, ports := t.TempDir(), proctest.Listen(t)
	p := startProc(t, dataDir, ports)
	call(t, http.MethodPut, p.url+"/v1/buckets/grace", nil, nil)
	var res client.PutResult
	call(t, http.MethodPut, p.url+"/v1/objects/grace/k", bytes.NewReader([]byte("kept")), &res)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	p2 := startProc(t, dataDir, ports)
	resp, err := http.Get(p2.url + "/v1/objects/grace/k")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "kept" {
		t.Fatalf("after restart: %q", b)
	}
}
