package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/bench/boosters"
	"cairn/cas/chunk"
	"cairn/daemon/internal/proctest"
)

// BenchmarkCluster_LargePut guards the cost of replication: PUTs of 64 MiB
// of booster data through a follower of a 3-node cluster, as a ratio to
// the same PUT into a single node, alternated in the same run. On one
// 2-core machine the three nodes share the CPU, so this is a floor for
// separate machines. Goal: at least 0.5.
func BenchmarkCluster_LargePut(b *testing.B) {
	data, err := boosters.Concat(64<<20, [3]string{"l", "model", "json"}, [3]string{"l", "seed2", "json"})
	if err != nil {
		b.Skipf("booster data: %v", err)
	}
	single := newTestServer(b)
	mkBucket(b, single, "large")
	// Repair at its deployed interval: the tests' 200 ms would have every
	// node rescan all references five times a second during the PUTs.
	c := newTestCluster(b, 3, func(cfg *Config) { cfg.RepairInterval = DefaultRepairInterval })
	mkBucket(b, c.nodes[c.leader()], "large")
	f := c.nodes[c.follower()]
	var one time.Duration
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		// Each PUT stores new content: every chunk changes, so nothing
		// dedups across rounds or between the two stores.
		i++
		b.StopTimer()
		markEvery(data, 32<<10, byte(2*i))
		t0 := time.Now()
		putBytes(b, single, "large", fmt.Sprintf("k%d", i), data)
		one += time.Since(t0)
		markEvery(data, 32<<10, byte(2*i+1))
		b.StartTimer()
		putBytes(b, f, "large", fmt.Sprintf("k%d", i), data)
	}
	b.ReportMetric(float64(one)/float64(b.Elapsed()), "x-single-node")
}

// BenchmarkCluster_SmallCommits measures 4 KiB commits from 16 clients
// spread over the three nodes of a cluster: commits per second and
// latency percentiles.
func BenchmarkCluster_SmallCommits(b *testing.B) {
	c := newTestCluster(b, 3)
	mkBucket(b, c.nodes[c.leader()], "small")
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var next atomic.Int64
	var mu sync.Mutex
	var lat Latency
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 16 {
		srv := c.nodes[w%3]
		wg.Go(func() {
			body := make([]byte, 4<<10)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				copy(body, fmt.Sprintf("object %d", i))
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPut, objURL(srv, "small", fmt.Sprintf("k/%08d", i)), bytes.NewReader(body))
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("put: %d %s", resp.StatusCode, msg)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
	b.ReportMetric(float64(lat.percentile(50))/1e6, "p50-ms")
	b.ReportMetric(float64(lat.percentile(99))/1e6, "p99-ms")
}

// BenchmarkCluster_CatchUp measures how long a node that joins a cluster
// holding 1 GiB of chunks takes until it holds them all (the state comes
// through Raft, the chunks through repair, at its default rate of 64 MiB/s
// unless CAIRN_BENCH_REPAIR_RATE gives another in bytes a second). Set
// CAIRN_BENCH_CATCHUP_MIB for another size.
func BenchmarkCluster_CatchUp(b *testing.B) {
	mib := 1024
	if v := os.Getenv("CAIRN_BENCH_CATCHUP_MIB"); v != "" {
		fmt.Sscan(v, &mib)
	}
	for b.Loop() {
		b.StopTimer()
		c := newTestCluster(b, 3)
		l := c.nodes[c.leader()]
		mkBucket(b, l, "data")
		for i := 0; i < mib/16; i++ {
			putBytes(b, l, "data", fmt.Sprintf("o%04d", i), content(fmt.Sprintf("catch-up %d", i), 16<<20))
		}
		refs, _ := l.Node().State().ChunkRefs(chunk.Digest{}, 0)
		ports := proctest.Listen(b)
		cfg := clusterConfig(b, "node3", ports, c.net)
		cfg.Join = l.RaftAddr()
		if v := os.Getenv("CAIRN_BENCH_REPAIR_RATE"); v != "" {
			fmt.Sscan(v, &cfg.RepairRate)
		}
		c.add(cfg, ports)
		b.StartTimer()
		n := c.start(3)
		ds := make([]chunk.Digest, len(refs))
		for i, r := range refs {
			ds[i] = r.Digest
		}
		for {
			missing, err := n.Store().Missing(b.Context(), ds)
			if err == nil && len(missing) == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.StopTimer()
		for i := range c.nodes {
			c.stop(i)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(mib)/b.Elapsed().Seconds()*float64(b.N), "MiB/s")
}

// markEvery sets one byte in every stride of data, so that every chunk of
// it is new.
func markEvery(data []byte, stride int, mark byte) {
	for off := 0; off < len(data); off += stride {
		data[off] = mark
	}
}
