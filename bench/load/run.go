package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Phase results for one target and one round.

// LogResult measures logging every run.
type LogResult struct {
	Files    int       `json:"files"`
	Bytes    int64     `json:"bytes"` // logical
	Sent     int64     `json:"sent_bytes"`
	Seconds  float64   `json:"seconds"`
	MBs      float64   `json:"mb_s"`
	Small    Latencies `json:"-"` // files under 1 MiB
	Large    Latencies `json:"-"`
	SmallP50 float64   `json:"small_p50_ms"`
	SmallP95 float64   `json:"small_p95_ms"`
	SmallP99 float64   `json:"small_p99_ms"`
	LargeP50 float64   `json:"large_p50_ms"`
	LargeP95 float64   `json:"large_p95_ms"`
	LargeP99 float64   `json:"large_p99_ms"`
	StoredB  int64     `json:"stored_bytes"`
	DiskB    int64     `json:"disk_bytes"`
	Dedup    float64   `json:"dedup_ratio"` // logical / stored
	Errors   int       `json:"errors"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func (r *LogResult) finish(d time.Duration) {
	r.Seconds = d.Seconds()
	r.MBs = float64(r.Bytes) / 1e6 / r.Seconds
	r.SmallP50, r.SmallP95, r.SmallP99 = ms(r.Small.Percentile(50)), ms(r.Small.Percentile(95)), ms(r.Small.Percentile(99))
	r.LargeP50, r.LargeP95, r.LargeP99 = ms(r.Large.Percentile(50)), ms(r.Large.Percentile(95)), ms(r.Large.Percentile(99))
}

// logRuns logs runs through t with c concurrent clients (each logs one
// run at a time, file by file, as an MLflow client does), under a key
// prefix so that rounds do not collide.
func logRuns(ctx context.Context, t Target, runs []RunFiles, prefix string, c int) LogResult {
	var res LogResult
	var mu sync.Mutex
	work := make(chan RunFiles)
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Go(func() {
			for r := range work {
				for _, f := range r.Files {
					t0 := time.Now()
					sent, err := t.Put(ctx, prefix+r.Root()+f.Path, f.Data)
					d := time.Since(t0)
					mu.Lock()
					if err != nil {
						res.Errors++
					}
					res.Files++
					res.Bytes += int64(len(f.Data))
					res.Sent += sent
					if len(f.Data) < 1<<20 {
						res.Small = append(res.Small, d)
					} else {
						res.Large = append(res.Large, d)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, r := range runs {
		work <- r
	}
	close(work)
	wg.Wait()
	res.finish(time.Since(start))
	return res
}

// DownloadResult measures reading runs back.
type DownloadResult struct {
	Runs     int     `json:"runs"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	MBs      float64 `json:"mb_s"`
	FileP50  float64 `json:"file_p50_ms"`
	FileP99  float64 `json:"file_p99_ms"`
	ListP50  float64 `json:"list_p50_ms"`
	ListP99  float64 `json:"list_p99_ms"`
	Errors   int     `json:"errors"`
	Mismatch int     `json:"mismatches"`
}

// download lists and reads a sample of runs, checking every byte.
func download(ctx context.Context, t Target, runs []RunFiles, prefix string, sample int, seed uint64) DownloadResult {
	var res DownloadResult
	rng := rand.New(rand.NewPCG(seed, 3))
	var files, lists Latencies
	start := time.Now()
	for range sample {
		r := runs[rng.IntN(len(runs))]
		t0 := time.Now()
		keys, err := t.List(ctx, prefix+r.Root())
		lists = append(lists, time.Since(t0))
		if err != nil || len(keys) != len(r.Files) {
			res.Errors++
			continue
		}
		for _, f := range r.Files {
			t0 := time.Now()
			b, err := t.Get(ctx, prefix+r.Root()+f.Path)
			files = append(files, time.Since(t0))
			if err != nil {
				res.Errors++
				continue
			}
			if string(b) != string(f.Data) {
				res.Mismatch++
			}
			res.Bytes += int64(len(b))
		}
		res.Runs++
	}
	res.Seconds = time.Since(start).Seconds()
	res.MBs = float64(res.Bytes) / 1e6 / res.Seconds
	res.FileP50, res.FileP99 = ms(files.Percentile(50)), ms(files.Percentile(99))
	res.ListP50, res.ListP99 = ms(lists.Percentile(50)), ms(lists.Percentile(99))
	return res
}

// CommitResult measures small-object commits.
type CommitResult struct {
	Objects int     `json:"objects"`
	Clients int     `json:"clients"`
	PerSec  float64 `json:"commits_per_s"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Errors  int     `json:"errors"`
}

// commits writes n distinct small objects of size bytes with c clients.
func commits(ctx context.Context, t Target, prefix string, n, size, c int, seed uint64) CommitResult {
	res := CommitResult{Clients: c}
	var mu sync.Mutex
	var lat Latencies
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			buf := make([]byte, size)
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := range next {
				for j := range buf {
					buf[j] = byte(rng.Uint32())
				}
				t0 := time.Now()
				_, err := t.Put(ctx, fmt.Sprintf("%s%08d", prefix, i), buf)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					res.Errors++
				} else {
					res.Objects++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	res.PerSec = float64(res.Objects) / time.Since(start).Seconds()
	res.P50, res.P99 = ms(lat.Percentile(50)), ms(lat.Percentile(99))
	return res
}
