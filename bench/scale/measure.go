package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cairn/bench/load"
	"cairn/client"
)

// latency summarises repeated requests.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

func summarise(l load.Latencies) latency {
	return latency{N: len(l), P50: ms(l.Percentile(50)), P99: ms(l.Percentile(99))}
}

// listing is one experiment listed page by page.
type listing struct {
	Keys    int     `json:"keys"`
	Pages   int     `json:"pages"`
	PageP50 float64 `json:"page_p50_ms"`
	PageMax float64 `json:"page_max_ms"`
	Total   float64 `json:"total_ms"`
}

// timeOf times fn, which must succeed n times, and summarises it.
func timeOf(n int, fn func(i int) error) (latency, error) {
	var l load.Latencies
	for i := range n {
		t0 := time.Now()
		if err := fn(i); err != nil {
			return latency{}, err
		}
		l = append(l, time.Since(t0))
	}
	return summarise(l), nil
}

// listRuns lists the model folder of sample runs among runs.
func listRuns(ctx context.Context, c *client.Client, ns *namespace, bucket string, runs, sample int) (latency, error) {
	rng := rand.New(rand.NewPCG(1, uint64(runs)))
	return timeOf(sample, func(int) error {
		r := rng.IntN(runs)
		page, err := c.List(ctx, bucket, client.ListOptions{Prefix: ns.runPrefix(r)})
		if err == nil && len(page.Objects) != filesPerRun {
			err = fmt.Errorf("run %s lists %d files, want %d", runID(r), len(page.Objects), filesPerRun)
		}
		return err
	})
}

// listExperiment lists experiment 1 in pages of 1000.
func listExperiment(ctx context.Context, c *client.Client, bucket string) (listing, error) {
	var out listing
	var pages load.Latencies
	opts := client.ListOptions{Prefix: "1/", Limit: 1000}
	start := time.Now()
	for {
		t0 := time.Now()
		page, err := c.List(ctx, bucket, opts)
		if err != nil {
			return out, err
		}
		pages = append(pages, time.Since(t0))
		out.Keys += len(page.Objects)
		if !page.Truncated || page.Next == "" {
			break
		}
		opts.StartAfter = page.Next
	}
	out.Total = ms(time.Since(start))
	out.Pages = len(pages)
	out.PageP50 = ms(pages.Percentile(50))
	out.PageMax = ms(pages.Percentile(100))
	return out, nil
}

// resolveRuns resolves runs:/<run_id>/model for sample runs.
func resolveRuns(ctx context.Context, c *client.Client, runs, sample int) (latency, error) {
	rng := rand.New(rand.NewPCG(2, uint64(runs)))
	return timeOf(sample, func(int) error {
		id := runID(rng.IntN(runs))
		res, err := c.Resolve(ctx, "runs:/"+id+"/model")
		if err == nil && (!res.IsDir || !strings.Contains(res.Key, id)) {
			err = fmt.Errorf("runs:/%s/model resolves to %s/%s", id, res.Bucket, res.Key)
		}
		return err
	})
}

// backup is the admin backup: the state's snapshot stream.
type backup struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func takeBackup(ctx context.Context, n *node) (backup, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url()+"/v1/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return backup{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return backup{}, fmt.Errorf("backup: %s", resp.Status)
	}
	b, err := io.Copy(io.Discard, resp.Body)
	return backup{Bytes: b, Seconds: time.Since(start).Seconds()}, err
}

// gcPass is one GC pass as the node reports it, and as the caller timed it.
type gcPass struct {
	Seconds  float64 `json:"seconds"`
	Scanned  int64   `json:"scanned"`
	Deleted  int64   `json:"deleted"`
	Reported float64 `json:"reported_seconds"`
}

func runGC(ctx context.Context, n *node, full bool) (gcPass, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.url()+"/v1/admin/gc?full="+strconv.FormatBool(full), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return gcPass{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Scanned int64   `json:"scanned"`
		Deleted int64   `json:"deleted"`
		Seconds float64 `json:"seconds"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return gcPass{}, fmt.Errorf("gc: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return gcPass{}, err
	}
	return gcPass{Seconds: time.Since(start).Seconds(), Scanned: out.Scanned, Deleted: out.Deleted, Reported: out.Seconds}, nil
}

// atRest waits 30 s after the last request (a node starts giving memory
// back 10 s after its last request, and writing its state memtable out
// takes seconds), then until no node's resident set moved by more than
// 4 MB in 5 s (a Raft snapshot or a Badger compaction that started
// meanwhile has ended), for at most a minute more, and returns the
// seconds it waited.
func atRest(ctx context.Context, nodes []*node) float64 {
	start := time.Now()
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	rss := func() []int64 {
		out := make([]int64, len(nodes))
		for i, n := range nodes {
			if n.cmd != nil && n.cmd.Process != nil {
				out[i] = procMem(n.cmd.Process.Pid)["VmRSS"]
			}
		}
		return out
	}
	if !sleep(30 * time.Second) {
		return time.Since(start).Seconds()
	}
	prev := rss()
	for time.Since(start) < 90*time.Second && sleep(5*time.Second) {
		cur := rss()
		still := true
		for i := range cur {
			if d := cur[i] - prev[i]; d > 4e6 || d < -4e6 {
				still = false
			}
		}
		if still {
			break
		}
		prev = cur
	}
	return time.Since(start).Seconds()
}

// nodeUsage is one node's memory at rest and disk.
type nodeUsage struct {
	ID        string `json:"id"`
	RSS       int64  `json:"rss_bytes"`
	PeakRSS   int64  `json:"peak_rss_bytes"`
	RSSAnon   int64  `json:"rss_anon_bytes"` // of RSS: the heap and other private memory
	RSSFile   int64  `json:"rss_file_bytes"` // of RSS: mapped files the kernel can drop
	GoHeap    int64  `json:"go_heap_bytes"`  // go_memstats_heap_inuse_bytes
	RaftLog   int64  `json:"raft_log_bytes"`
	Snapshots int64  `json:"snapshot_bytes"`
	State     int64  `json:"state_bytes"`
	Chunks    int64  `json:"chunk_bytes"`
	Total     int64  `json:"total_bytes"`
}

func usageOf(n *node) nodeUsage {
	u := nodeUsage{ID: n.id}
	if n.cmd != nil && n.cmd.Process != nil {
		m := procMem(n.cmd.Process.Pid)
		u.RSS, u.PeakRSS, u.RSSAnon, u.RSSFile = m["VmRSS"], m["VmHWM"], m["RssAnon"], m["RssFile"]
	}
	data := filepath.Join(n.dir, "data")
	du := func(p ...string) int64 {
		b, _ := load.DiskUsage(filepath.Join(append([]string{data}, p...)...))
		return b
	}
	u.RaftLog, u.Snapshots, u.State, u.Chunks = du("raft", "raft"), du("raft", "snapshots"), du("raft", "fsm"), du("chunks")
	u.Total = du()
	return u
}

// procMem returns the sizes /proc/<pid>/status gives in kB, in bytes, by
// name (VmRSS, VmHWM, RssAnon, RssFile, ...).
func procMem(pid int) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if f := strings.Fields(v); len(f) == 2 && f[1] == "kB" {
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			out[k] = kb << 10
		}
	}
	return out
}

// restart is one follower stopped and started again.
type restart struct {
	Node      string  `json:"node"`
	Stop      float64 `json:"stop_seconds"`
	Ready     float64 `json:"ready_seconds"`
	CaughtUp  float64 `json:"caught_up_seconds"`
	StartedAt uint64  `json:"applied"`
}

// restartFollower stops a follower with SIGTERM, starts it, and times
// /readyz and the moment the leader sees it with no lag.
func (c *cluster) restartFollower(ctx context.Context) (restart, error) {
	n, err := c.follower(ctx)
	if err != nil {
		return restart{}, err
	}
	out := restart{Node: n.id}
	t0 := time.Now()
	n.stop()
	out.Stop = time.Since(t0).Seconds()
	t0 = time.Now()
	if err := c.start(n); err != nil {
		return out, err
	}
	if err := waitReady(ctx, n, 10*time.Minute); err != nil {
		return out, err
	}
	out.Ready = time.Since(t0).Seconds()
	err = poll(ctx, 10*time.Minute, 50*time.Millisecond, func() (bool, error) {
		st, ok := c.status(ctx, n.id)
		out.StartedAt = st.Applied
		return ok && st.Error == "" && st.Lag == 0 && st.Applied > 0, nil
	})
	out.CaughtUp = time.Since(t0).Seconds()
	return out, err
}

// catchUp is a fourth node joining a cluster that holds the namespace.
type catchUp struct {
	Ready  float64   `json:"ready_seconds"`
	Voter  float64   `json:"voter_seconds"` // promoted, no lag
	Chunks float64   `json:"chunks_seconds"`
	Usage  nodeUsage `json:"usage"`
}

// joinFourth starts a node with --join, times it until it is a voter
// with no lag and holds every chunk, records its disk, then removes it.
func (c *cluster) joinFourth(ctx context.Context) (catchUp, error) {
	var out catchUp
	l, err := c.leader(ctx)
	if err != nil {
		return out, err
	}
	n, err := c.newNode("n4", "--join", l.raftAddr)
	if err != nil {
		return out, err
	}
	defer os.RemoveAll(n.dir)
	defer n.stop()
	t0 := time.Now()
	if err := c.start(n); err != nil {
		return out, err
	}
	if err := waitReady(ctx, n, 30*time.Minute); err != nil {
		return out, err
	}
	out.Ready = time.Since(t0).Seconds()
	if err := poll(ctx, 30*time.Minute, 50*time.Millisecond, func() (bool, error) {
		st, ok := c.status(ctx, n.id)
		return ok && st.Suffrage == "Voter" && st.Lag == 0 && st.Applied > 0, nil
	}); err != nil {
		return out, fmt.Errorf("n4 promoted: %w", err)
	}
	out.Voter = time.Since(t0).Seconds()
	// The leader holds exactly the referenced chunks (a full GC ran
	// before, and nothing writes meanwhile).
	want, err := metric(ctx, l, "cairn_store_chunks")
	if err != nil {
		return out, err
	}
	if err := poll(ctx, 30*time.Minute, 200*time.Millisecond, func() (bool, error) {
		have, err := metric(ctx, n, "cairn_store_chunks")
		return err == nil && have >= want, nil
	}); err != nil {
		return out, fmt.Errorf("n4 chunks: %w", err)
	}
	out.Chunks = time.Since(t0).Seconds()
	out.Usage = usageOf(n)
	if err := l.c.Admin().RemoveNode(ctx, n.id); err != nil {
		return out, fmt.Errorf("remove n4: %w", err)
	}
	return out, nil
}

// metric reads one unlabelled series of a node's /metrics.
func metric(ctx context.Context, n *node, name string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s in /metrics", n.id, name)
}

// heapProfile writes n's heap profile (GET /debug/pprof/heap, which takes
// an admin key) to path.
func heapProfile(ctx context.Context, n *node, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url()+"/debug/pprof/heap", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("%s: heap profile: %s: %s", n.id, resp.Status, b)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// statsCall times one GET /v1/stats, which lists the top runs.
func statsCall(ctx context.Context, c *client.Client) (float64, error) {
	t0 := time.Now()
	_, err := c.Stats(ctx, 10)
	return ms(time.Since(t0)), err
}
