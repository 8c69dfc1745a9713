package scale

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cairn/bench/boosters"
	"cairn/bench/load"
	"cairn/client"
)

// filesPerRun is how many objects each run logs, in this order.
var fileNames = []string{"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt", "model.xgb"}

const filesPerRun = 5

// namespace maps object numbers to keys and bodies: object i is file
// i%5 of run i/5, in experiment 1 + run/runsPerExp.
type namespace struct {
	runsPerExp int
	mlmodel    string            // template with RUNID and UUID
	shared     map[string][]byte // the four files every run shares
}

func newNamespace(runsPerExp int) (*namespace, error) {
	env, err := boosters.EnvDir()
	if err != nil {
		return nil, err
	}
	ns := &namespace{runsPerExp: runsPerExp, shared: map[string][]byte{}}
	for _, f := range fileNames[1:4] {
		if ns.shared[f], err = os.ReadFile(filepath.Join(env, f)); err != nil {
			return nil, err
		}
	}
	booster, err := boosters.Path("s", "model", "xgb")
	if err != nil {
		return nil, err
	}
	if ns.shared["model.xgb"], err = os.ReadFile(booster); err != nil {
		return nil, err
	}
	m, err := os.ReadFile(filepath.Join(env, "MLmodel"))
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(m), "\n") {
		switch {
		case strings.HasPrefix(l, "run_id:"):
			l = "run_id: RUNID"
		case strings.HasPrefix(l, "model_uuid:"):
			l = "model_uuid: UUID"
		}
		lines = append(lines, l)
	}
	ns.mlmodel = strings.Join(lines, "\n")
	return ns, nil
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// runID is run r's id: 32 hex digits, spread like MLflow's.
func runID(r int) string {
	return fmt.Sprintf("%016x%016x", splitmix(uint64(r)), splitmix(uint64(r)^0x5ca1ab1e))
}

func (ns *namespace) experiment(r int) int { return 1 + r/ns.runsPerExp }

// runPrefix is the folder of run r's model.
func (ns *namespace) runPrefix(r int) string {
	return fmt.Sprintf("%d/%s/artifacts/model/", ns.experiment(r), runID(r))
}

func (ns *namespace) object(i int) (key string, body []byte) {
	r, f := i/filesPerRun, fileNames[i%filesPerRun]
	key = ns.runPrefix(r) + f
	if f == "MLmodel" {
		id := runID(r)
		return key, []byte(strings.NewReplacer("RUNID", id, "UUID", runID(r+1<<40)).Replace(ns.mlmodel))
	}
	return key, ns.shared[f]
}

// putStats are the PUTs of one stretch of the fill.
type putStats struct {
	Objects int     `json:"objects"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_second"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Errors  int     `json:"errors"`
}

// putter PUTs objects through the native API, spread over the nodes.
type putter struct {
	ns     *namespace
	bucket string
	hc     *http.Client
	// progress, when set, is told how many objects are done every few
	// seconds.
	progress func(done, total int, rate float64)
}

func newPutter(ns *namespace, bucket string) *putter {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tr.MaxIdleConns = 1024
	return &putter{ns: ns, bucket: bucket, hc: &http.Client{Transport: tr}}
}

// put fills objects [from, to) with conc clients, each on node
// (client % len(nodes)), batch objects a request (1: a PUT each; more: one
// commit of many files, putMany); with record it keeps every request's
// latency.
func (p *putter) put(ctx context.Context, nodes []*node, from, to, conc, batch int, record bool) (putStats, error) {
	batch = max(batch, 1)
	var next atomic.Int64
	next.Store(int64(from))
	var done, errs atomic.Int64
	lats := make([]load.Latencies, conc)
	var firstErr atomic.Pointer[error]
	stop := make(chan struct{})
	start := time.Now()
	if p.progress != nil {
		go func() {
			t := time.NewTicker(10 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					d := int(done.Load())
					p.progress(d, to-from, float64(d)/time.Since(start).Seconds())
				case <-stop:
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range conc {
		n := nodes[w%len(nodes)]
		wg.Go(func() {
			for {
				i := int(next.Add(int64(batch)) - int64(batch))
				if i >= to || ctx.Err() != nil {
					return
				}
				hi := min(i+batch, to)
				t0 := time.Now()
				put := func() error { return p.putOne(ctx, n, i) }
				if batch > 1 {
					put = func() error { return p.putMany(ctx, n, i, hi) }
				}
				if err := put(); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					if errs.Load() > 100 {
						return
					}
					continue
				}
				if record {
					lats[w] = append(lats[w], time.Since(t0))
				}
				done.Add(int64(hi - i))
			}
		})
	}
	wg.Wait()
	close(stop)
	took := time.Since(start)
	var all load.Latencies
	for _, l := range lats {
		all = append(all, l...)
	}
	st := putStats{Objects: int(done.Load()), Seconds: took.Seconds(), PerSec: float64(done.Load()) / took.Seconds(),
		P50: ms(all.Percentile(50)), P99: ms(all.Percentile(99)), Errors: int(errs.Load())}
	if e := firstErr.Load(); e != nil && errs.Load() > 100 {
		return st, fmt.Errorf("more than 100 PUTs failed, the first: %w", *e)
	}
	return st, ctx.Err()
}

// putOne PUTs object i, again after a 503 (a leader change, the upload
// window full), at most 5 times; the latency counts the retries.
func (p *putter) putOne(ctx context.Context, n *node, i int) error {
	key, body := p.ns.object(i)
	u := n.url() + "/v1/objects/" + url.PathEscape(p.bucket) + "/" + (&url.URL{Path: key}).EscapedPath()
	var last error
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := p.hc.Do(req)
		if err != nil {
			last = err
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("PUT %s: %s: %s", key, resp.Status, msg)
		if resp.StatusCode != http.StatusServiceUnavailable {
			return last
		}
	}
	return last
}

// putMany logs objects [lo, hi) through the Go client in one commit of
// many files (POST /v1/commit/<bucket>/: one Raft entry), again after an
// error, at most 5 times.
func (p *putter) putMany(ctx context.Context, n *node, lo, hi int) error {
	items := make([]client.PutItem, 0, hi-lo)
	for i := lo; i < hi; i++ {
		key, body := p.ns.object(i)
		items = append(items, client.PutItem{Key: key, R: bytes.NewReader(body), Size: int64(len(body))})
	}
	var last error
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		if _, last = n.c.PutMany(ctx, p.bucket, items, nil); last == nil || ctx.Err() != nil {
			return last
		}
	}
	return last
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
