package load

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The ingest phases measure what storing booster bytes costs, apart from
// the rest of the workload: "new" PUTs boosters no store has seen (the
// pool's boosters, each changed in every 4 KiB so that no chunk of it is
// stored yet, and differently each round and object, with the same
// compressibility), "same" PUTs the same bytes again under other keys.
// Every target takes them through its own client: S3 targets through
// aws-sdk-go-v2, cairn-client through cairn's Go client.

// ingestObjects returns the objects of the ingest phases of one round.
func ingestObjects(w *Workload, round, n int) []RunFiles {
	pool := distinctBoosters(w)
	var out []RunFiles
	for i := range n {
		src := pool[i%len(pool)]
		b := make([]byte, len(src))
		copy(b, src)
		for k := 0; k < len(b); k += 4096 {
			b[k] ^= byte(1 + round*31 + i)
			if k+1 < len(b) {
				b[k+1] ^= byte(i >> 8)
			}
		}
		out = append(out, RunFiles{ExperimentID: "ingest", RunID: fmt.Sprintf("r%d-%03d", round, i),
			Files: []File{{Path: "model/model.xgb", Data: b}}})
	}
	return out
}

// distinctBoosters returns the workload's boosters, each once.
func distinctBoosters(w *Workload) [][]byte {
	var pool [][]byte
	seen := map[*byte]bool{}
	for _, r := range w.Runs {
		for _, f := range r.Files {
			if f.Path == "model/model.xgb" && len(f.Data) > 0 && !seen[&f.Data[0]] {
				seen[&f.Data[0]] = true
				pool = append(pool, f.Data)
			}
		}
	}
	return pool
}

// ingest runs the two ingest phases on t, then reads the new objects
// back with as many clients, checking every byte.
func ingest(ctx context.Context, t Target, objs []RunFiles, clients int) (fresh, same LogResult, get DownloadResult) {
	fresh = logRuns(ctx, t, objs, "", clients)
	same = logRuns(ctx, t, objs, "again/", clients)
	return fresh, same, getAll(ctx, t, objs, clients)
}

// getAll reads every file of runs with c concurrent clients.
func getAll(ctx context.Context, t Target, runs []RunFiles, c int) DownloadResult {
	var res DownloadResult
	var mu sync.Mutex
	var lat Latencies
	work := make(chan File)
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Go(func() {
			for f := range work {
				t0 := time.Now()
				b, err := t.Get(ctx, f.Path)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				switch {
				case err != nil:
					res.Errors++
				case string(b) != string(f.Data):
					res.Mismatch++
				}
				res.Bytes += int64(len(b))
				mu.Unlock()
			}
		})
	}
	for _, r := range runs {
		for _, f := range r.Files {
			work <- File{Path: r.Root() + f.Path, Data: f.Data}
		}
		res.Runs++
	}
	close(work)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.MBs = float64(res.Bytes) / 1e6 / res.Seconds
	res.FileP50, res.FileP99 = ms(lat.Percentile(50)), ms(lat.Percentile(99))
	return res
}

// settle waits until a target's stored bytes stop changing (cairn's
// compactor works while the node is idle), and returns them: what the
// store holds at rest. Targets that do not report their stored bytes
// return at once.
func settle(ctx context.Context, t Target) (int64, time.Duration, error) {
	start := time.Now()
	last, ok, err := t.Stored(ctx)
	if err != nil || !ok {
		return last, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	steady := 0
	for steady < 4 {
		select {
		case <-ctx.Done():
			return last, time.Since(start), nil
		case <-tick.C:
		}
		n, _, err := t.Stored(ctx)
		if err != nil {
			return last, time.Since(start), err
		}
		if n == last {
			steady++
		} else {
			steady = 0
		}
		last = n
	}
	return last, time.Since(start) - 2*time.Second, nil
}
