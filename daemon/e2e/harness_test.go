//go:build e2e

// Package e2e drives the real cairn binary with the real clients people
// use: awscli, boto3, rclone and s3cmd from Debian, and python3-xgboost
// to train the boosters they move. Every client is configured to talk to
// 127.0.0.1 only.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/internal/proctest"
)

// The S3 key pair every node of these tests accepts.
const (
	accessKey = "E2EACCESSKEY00000001"
	secretKey = "e2e/secret+key=000000000000000000000000"
	region    = "us-east-1"
)

// TestMain builds the binary when $CAIRN_BIN does not name one, so that
// `go test -tags e2e ./daemon/e2e/` works without make.
func TestMain(m *testing.M) {
	if os.Getenv("CAIRN_BIN") == "" {
		dir, err := os.MkdirTemp("", "cairn-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		bin := filepath.Join(dir, "cairn")
		if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/cairn").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build cairn: %v\n%s", err, out)
			os.Exit(1)
		}
		os.Setenv("CAIRN_BIN", bin)
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// Node is a cairn serve process on loopback addresses. Its data folder
// lives as long as the test; Kill and Restart let crash tests reuse it.
type Node struct {
	t        testing.TB
	DataDir  string
	HTTPAddr string
	RaftAddr string
	ports    *proctest.Ports
	Args     []string // extra serve flags
	cmd      *exec.Cmd
	done     chan struct{}
	log      *logBuffer
}

// logBuffer collects a process's output; it is safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartNode starts a single-node cluster from the binary in $CAIRN_BIN
// and waits until it is ready. The test's cleanup kills it; its log is
// printed if the test failed.
func StartNode(t testing.TB, args ...string) *Node {
	t.Helper()
	ports := proctest.Listen(t)
	n := &Node{t: t, DataDir: t.TempDir(), HTTPAddr: ports.HTTPAddr, RaftAddr: ports.ClusterAddr, Args: args, ports: ports}
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() && n.log != nil {
			t.Logf("cairn log:\n%s", n.log)
		}
	})
	n.Start()
	return n
}

// Start launches the process (again, on the same data and addresses)
// and waits until it answers /readyz with 200.
func (n *Node) Start() {
	n.t.Helper()
	args := append([]string{"serve", "--data-dir", n.DataDir, "--http-addr", n.HTTPAddr, "--raft-addr", n.RaftAddr,
		"--s3-access-key", accessKey, "--s3-secret-key", secretKey, "--log-level", "warn"}, n.Args...)
	n.cmd = exec.Command(os.Getenv("CAIRN_BIN"), args...)
	if n.log == nil {
		n.log = &logBuffer{}
	}
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.ports.Start(n.t, n.cmd); err != nil {
		n.t.Fatalf("start cairn: %v", err)
	}
	done := make(chan struct{})
	n.done = done
	go func() { n.cmd.Wait(); close(done) }()
	n.waitReady(30 * time.Second)
}

func (n *Node) waitReady(timeout time.Duration) {
	n.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(n.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-n.done:
			n.t.Fatalf("cairn exited before it was ready:\n%s", n.log)
		case <-deadline.C:
			n.t.Fatalf("cairn not ready after %s:\n%s", timeout, n.log)
		case <-tick.C:
		}
	}
}

// URL is the node's HTTP endpoint, for S3 and the native API.
func (n *Node) URL() string { return "http://" + n.HTTPAddr }

// Kill stops the process with SIGKILL, as a crash would, and waits for it.
func (n *Node) Kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}

// Stop asks the process to shut down (SIGTERM) and waits for it.
func (n *Node) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		n.t.Errorf("cairn did not stop on SIGTERM")
		n.Kill()
	}
	n.cmd = nil
}

// Restart stops the process and starts it again on the same data.
func (n *Node) Restart() {
	n.t.Helper()
	n.Stop()
	n.Start()
}

// Stats returns the node's /v1/stats.
func (n *Node) Stats() client.Stats {
	n.t.Helper()
	resp, err := n.get("/v1/stats?top=50")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st client.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		n.t.Fatal(err)
	}
	return st
}

// ClientEnv is the environment of a client process: a private HOME and
// AWS configuration pointing at the node only, no instance metadata, no
// inherited AWS_* settings.
func (n *Node) ClientEnv(t testing.TB) []string {
	t.Helper()
	home := t.TempDir()
	config := filepath.Join(home, "aws-config")
	creds := filepath.Join(home, "aws-credentials")
	writeFile(t, config, "[default]\nregion = "+region+"\ns3 =\n  addressing_style = path\n")
	writeFile(t, creds, "[default]\naws_access_key_id = "+accessKey+"\naws_secret_access_key = "+secretKey+"\n")
	return []string{
		"PATH=/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8",
		"AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=" + creds,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_DEFAULT_REGION=" + region, "AWS_PAGER=",
		"AWS_ENDPOINT_URL=" + n.URL(), "NO_PROXY=*", "no_proxy=*",
	}
}

// Run runs a client program with env and returns its standard output;
// a failure fails the test with the output of both streams.
func Run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr is Run that returns the error (and the combined output) instead
// of failing.
func RunErr(t testing.TB, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// B3 returns the BLAKE3 digest of a file, as b3sum prints it, computed
// by /usr/bin/b3sum when it is installed and checked against Go's.
func B3(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := chunk.Sum(b).String()
	if out, err := exec.Command("/usr/bin/b3sum", "--no-names", path).Output(); err == nil {
		if got := strings.TrimSpace(string(out)); got != sum {
			t.Fatalf("b3sum %s = %s, Go says %s", path, got, sum)
		}
	}
	return sum
}

// Digest returns the BLAKE3 digest the node holds for bucket/key.
func (n *Node) Digest(bucket, key string) string {
	n.t.Helper()
	resp, err := n.get("/v1/stat/" + bucket + "/" + escapeKey(key))
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st client.Stat
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		n.t.Fatalf("stat %s/%s: %d %v", bucket, key, resp.StatusCode, err)
	}
	return st.Object.Digest.String()
}

// get sends a GET to the native API as the seeded admin key.
func (n *Node) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, n.URL()+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+accessKey+":"+secretKey)
	return http.DefaultClient.Do(req)
}

func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
