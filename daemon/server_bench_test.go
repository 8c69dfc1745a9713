package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/bench/boosters"
	"cairn/cas"
)

// BenchmarkSmallCommits guards the small-object commit rate of one node:
// distinct 4 KiB objects PUT over HTTP by 16 concurrent clients, each one
// synced and committed through Raft before its answer. Goal: at least
// 2,000/s on these 2-core machines.
func BenchmarkSmallCommits(b *testing.B) {
	srv := newTestServer(b)
	mkBucket(b, srv, "small")
	var next atomic.Int64
	var lat sync.Mutex
	var durations Latency
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			body := make([]byte, 4<<10)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				copy(body, fmt.Sprintf("client %d object %d", c, i))
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPut, objURL(srv, "small", fmt.Sprintf("k/%08d", i)), bytes.NewReader(body))
				resp, err := hc.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Errorf("put: %v %v", err, resp)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat.Lock()
				durations = append(durations, time.Since(t0))
				lat.Unlock()
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
	b.ReportMetric(float64(durations.percentile(50))/1e6, "p50-ms")
	b.ReportMetric(float64(durations.percentile(99))/1e6, "p99-ms")
}

// Latency is a set of durations.
type Latency []time.Duration

func (l Latency) percentile(p int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(Latency(nil), l...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[(len(s)-1)*p/100]
}

// BenchmarkLargePut guards the HTTP write path of a 64 MiB booster: a PUT
// through /v1/ into a fresh node, as a ratio to cas.Put alone over the
// same bytes into a fresh store, measured alternately in the same run.
// Goal: at least 0.85.
func BenchmarkLargePut(b *testing.B) {
	data, err := boosters.Concat(64<<20, [3]string{"l", "model", "json"}, [3]string{"l", "seed2", "json"})
	if err != nil {
		b.Skipf("booster data: %v", err)
	}
	var direct time.Duration
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		b.StopTimer()
		st, err := cas.Open(b.TempDir(), cas.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		// Collect before each timed PUT, so that neither pays for the
		// garbage of opening stores (the node's state store allocates a
		// 128 MiB memtable).
		runtime.GC()
		t0 := time.Now()
		if _, err := st.Put(b.Context(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(t0)
		st.Close()
		srv := newTestServer(b)
		mkBucket(b, srv, "large")
		runtime.GC()
		b.StartTimer()
		putBytes(b, srv, "large", "booster.json", data)
		b.StopTimer()
		srv.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(direct)/float64(b.Elapsed()), "x-cas-put")
}
