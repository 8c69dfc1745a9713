//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/client"
)

// freePair returns a loopback port p such that p and p+1 are free now.
// The process the test starts binds them later: another program may take
// one first, which the test then sees as a bind failure and retries.
func freePair(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatal("no two free ports in a row")
	return 0
}

// serveProc is a cairn serve process that listens on ports it chose
// itself, as an operator's would.
type serveProc struct {
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
}

// startServe starts cairn serve with args and env and waits until url
// answers /readyz. It reports false, with the process gone, when a port
// was taken before the process could bind it.
func startServe(t *testing.T, url string, env []string, args ...string) (*serveProc, bool) {
	t.Helper()
	p := &serveProc{cmd: exec.Command(os.Getenv("CAIRN_BIN"), append([]string{"serve"}, args...)...), log: &logBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("cairn serve %s:\n%s", strings.Join(args, " "), p.log)
		}
	})
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, true
			}
		}
		select {
		case <-p.done:
			if strings.Contains(p.log.String(), "address already in use") {
				return nil, false
			}
			t.Fatalf("cairn serve exited before it was ready:\n%s", p.log)
		case <-deadline.C:
			t.Fatalf("cairn serve not ready after 30s:\n%s", p.log)
		case <-tick.C:
		}
	}
}

// TestServe_TwoNodesOneMachine starts two nodes on one machine the way a
// newcomer would: each given only its data folder and HTTP port, so that
// each takes the next port for the cluster. The second joins the first
// by a URL of its cluster port, from a configuration file. cairn cluster
// status then shows both, neither lagging once idle.
func TestServe_TwoNodesOneMachine(t *testing.T) {
	for attempt := 0; ; attempt++ {
		if twoNodes(t) {
			return
		}
		if attempt == 3 {
			t.Fatal("ports kept being taken before cairn could bind them")
		}
	}
}

func twoNodes(t *testing.T) bool {
	const secret = "e2e-two-nodes-cluster-secret"
	pa, pb := freePair(t), freePair(t)
	if pb == pa+1 || pa == pb+1 {
		return false
	}
	urlA, urlB := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)
	keys := []string{"CAIRN_S3_KEYS=" + accessKey + ":" + secretKey}
	if _, ok := startServe(t, urlA, append(keys, "CAIRN_CLUSTER_SECRET="+secret),
		"--data-dir", t.TempDir(), "--http-addr", fmt.Sprintf("127.0.0.1:%d", pa), "--node-id", "a", "--log-level", "warn"); !ok {
		return false
	}
	config := filepath.Join(t.TempDir(), "b.yaml")
	writeFile(t, config, fmt.Sprintf("data_dir: %s\nhttp_addr: 127.0.0.1:%d\nnode_id: b\ncluster_secret: %s\njoin: http://127.0.0.1:%d\nlog_level: warn\ngc_interval: 1h\n",
		t.TempDir(), pb, secret, pa+1))
	if _, ok := startServe(t, urlB, keys, "--config", config); !ok {
		return false
	}

	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "CAIRN_ENDPOINT=" + urlB, "CAIRN_TOKEN=" + accessKey + ":" + secretKey}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := Run(t, env, os.Getenv("CAIRN_BIN"), "cluster", "status", "--json")
		var st client.ClusterStatus
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("cairn cluster status --json: %v\n%s", err, out)
		}
		if idleOf(st, map[string]string{"a": fmt.Sprintf("127.0.0.1:%d", pa+1), "b": fmt.Sprintf("127.0.0.1:%d", pb+1)}) {
			return true
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster never showed both nodes idle at their ports:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idleOf reports whether st lists exactly the nodes of addrs, as voters at
// those cluster addresses, reachable and not lagging.
func idleOf(st client.ClusterStatus, addrs map[string]string) bool {
	if len(st.Nodes) != len(addrs) {
		return false
	}
	for _, n := range st.Nodes {
		if addrs[n.ID] != n.RaftAddr || n.Suffrage != "Voter" || n.Error != "" || n.Lag != 0 {
			return false
		}
	}
	return true
}
