package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/internal/proctest"
)

// TestCluster_ProcessesKillLeader runs three cairn serve processes,
// kills the leader with SIGKILL during uploads through every node,
// restarts it, and checks that every acknowledged object is served,
// verified, by every node.
func TestCluster_ProcessesKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	const n = 3
	type member struct {
		id, dir string
		ports   *proctest.Ports
	}
	var ms []member
	var peers []string
	for i := range n {
		m := member{id: fmt.Sprintf("n%d", i), dir: t.TempDir(), ports: proctest.Listen(t)}
		ms = append(ms, m)
		peers = append(peers, m.id+"="+m.ports.ClusterAddr)
	}
	args := func(m member) []string {
		return []string{"--node-id", m.id, "--bootstrap", strings.Join(peers, ","), "--cluster-secret", "proc-secret"}
	}
	procs := make([]*proc, n)
	for i, m := range ms {
		procs[i] = launchProc(t, m.dir, m.ports, args(m)...)
	}
	for _, p := range procs {
		waitReady(t, p.url)
	}
	leaderOf := func() int {
		for i, p := range procs {
			if p == nil {
				continue
			}
			var st client.ClusterStatus
			resp, err := http.Get(p.url + "/v1/cluster/status")
			if err != nil {
				continue
			}
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			for j, m := range ms {
				if st.Leader == m.id && procs[j] != nil {
					_ = i
					return j
				}
			}
		}
		return -1
	}
	var leader int
	waitFor(t, func() bool { leader = leaderOf(); return leader >= 0 })
	call(t, http.MethodPut, procs[leader].url+"/v1/buckets/proc", nil, nil)

	var mu sync.Mutex
	acked := map[string]chunk.Digest{}
	sizes := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				p := procs[(w+i)%n]
				mu.Unlock()
				if p == nil {
					continue
				}
				key := fmt.Sprintf("w%d/%04d", w, i)
				size := 1 + (i*7919+w*31)%(2<<20)
				req, _ := http.NewRequest(http.MethodPut, p.url+"/v1/objects/proc/"+key, bytes.NewReader(content(key, size)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				var res client.PutResult
				json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked[key], sizes[key] = res.Digest, size
					mu.Unlock()
				}
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, func() bool { return count() >= 20 })
	mu.Lock()
	killed := procs[leader]
	procs[leader] = nil
	mu.Unlock()
	killed.cmd.Process.Signal(syscall.SIGKILL)
	killed.wait()
	before := count()
	waitFor(t, func() bool { return count() >= before+20 })
	close(stop)
	wg.Wait()
	m := ms[leader]
	restarted := launchProc(t, m.dir, m.ports, args(m)...)
	waitReady(t, restarted.url)
	procs[leader] = restarted
	for i, p := range procs {
		for key, d := range acked {
			var b []byte
			waitFor(t, func() bool {
				resp, err := http.Get(p.url + "/v1/objects/proc/" + key + "?consistent=true")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ = io.ReadAll(resp.Body)
				return resp.StatusCode == 200
			})
			if chunk.Sum(b) != d || len(b) != sizes[key] {
				t.Fatalf("node %d serves %s wrong after the leader's kill -9", i, key)
			}
		}
	}
	t.Logf("%d acknowledged writes, all served verified by all %d nodes after killing the leader", len(acked), n)
}
