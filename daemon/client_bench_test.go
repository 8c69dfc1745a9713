package daemon

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/bench/boosters"
	"cairn/cas/chunk"
	"cairn/client"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// largeBooster writes at least n bytes of distinct large-booster data to
// a temporary file and returns its path.
func largeBooster(b *testing.B, n int) string {
	b.Helper()
	data, err := boosters.Concat(n,
		[3]string{"l", "model", "json"}, [3]string{"l", "seed2", "json"}, [3]string{"l", "data2", "json"},
		[3]string{"l", "plus1", "json"}, [3]string{"l", "model", "ubj"}, [3]string{"l", "seed2", "ubj"},
		[3]string{"l", "data2", "ubj"}, [3]string{"l", "model", "xgb"}, [3]string{"l", "seed2", "xgb"})
	if err != nil {
		b.Skipf("large boosters: %v", err)
	}
	p := filepath.Join(b.TempDir(), "booster.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkClient_RelogStoredBooster guards the cost of logging again a
// 300 MiB booster the store already holds, under a new key: no chunk may
// be sent, and the wall time is reported as x-hash, a ratio to chunking
// and hashing the file locally (client.HashFile) measured in the same
// run. The target is x-hash <= 1.3; commit-frac is the share of the
// time spent in the server's commit.
func BenchmarkClient_RelogStoredBooster(b *testing.B) {
	path := largeBooster(b, 300<<20)
	srv := newClientTestServer(b)
	c, ct := newCountingClient(b, srv.URL())
	if _, err := c.PutFile(b.Context(), "test", "first", path, nil); err != nil {
		b.Fatal(err)
	}
	// The compactor re-encodes the first copy's 300 MiB in the background;
	// a re-log measured while it runs would be measured against it (in
	// this one process), not against the hash.
	for deadline := time.Now().Add(time.Minute); srv.Store().Backlog().Chunks > 0; {
		if time.Now().After(deadline) {
			b.Fatalf("the compactor still has %d chunks to do after a minute", srv.Store().Backlog().Chunks)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	var hash time.Duration
	i := 0
	ct.reset()
	for b.Loop() {
		b.StopTimer()
		start := time.Now()
		if _, err := client.HashFile(b.Context(), path); err != nil {
			b.Fatal(err)
		}
		hash += time.Since(start)
		b.StartTimer()
		u, err := c.PutFile(b.Context(), "test", fmt.Sprintf("relog/%d", i), path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if u.SentBytes != 0 {
			b.Fatalf("relog sent %d bytes, want 0", u.SentBytes)
		}
		i++
	}
	if ct.chunkPuts.Load() != 0 {
		b.Fatalf("%d chunk PUTs, want none", ct.chunkPuts.Load())
	}
	b.ReportMetric(float64(b.Elapsed())/float64(hash), "x-hash")
	// The share of the time the server took to commit, which reads the
	// whole file back to check its digest and compute its MD5 ETag.
	b.ReportMetric(float64(ct.commitTime.Load())/float64(b.Elapsed()), "commit-frac")
}

// BenchmarkClient_RetrainedBooster logs a large booster trained one round
// more than one the store holds, and reports the bytes sent as a fraction
// of the file (sent-frac) next to the fraction of its chunks that are new
// (changed-frac): the client must send exactly the changed chunks.
func BenchmarkClient_RetrainedBooster(b *testing.B) {
	for _, format := range boosters.Formats {
		b.Run(format, func(b *testing.B) {
			base, err := boosters.Path("l", "model", format)
			if err != nil {
				b.Skipf("large boosters: %v", err)
			}
			next, _ := boosters.Path("l", "plus1", format)
			srv := newClientTestServer(b)
			c, _ := newCountingClient(b, srv.URL())
			if _, err := c.PutFile(b.Context(), "test", "model", base, nil); err != nil {
				b.Fatal(err)
			}
			fh, err := client.HashFile(b.Context(), next)
			if err != nil {
				b.Fatal(err)
			}
			changed, err := srv.Store().Missing(b.Context(), fh.Recipe.Distinct())
			if err != nil {
				b.Fatal(err)
			}
			var up client.Upload
			b.SetBytes(fh.Size)
			for b.Loop() {
				b.StopTimer()
				// Forget the retrain so that each round sends its chunks again.
				c.Delete(b.Context(), "test", "plus1")
				if err := srv.Store().Delete(b.Context(), changed...); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if up, err = c.PutFile(b.Context(), "test", "plus1", next, nil); err != nil {
					b.Fatal(err)
				}
			}
			if up.SentChunks != len(changed) {
				b.Fatalf("sent %d chunks, want the %d changed", up.SentChunks, len(changed))
			}
			b.ReportMetric(float64(up.SentBytes)/float64(up.Bytes), "sent-frac")
			b.ReportMetric(float64(len(changed))/float64(len(chunk.Recipe(fh.Recipe).Distinct())), "changed-frac")
		})
	}
}

// BenchmarkClient_Ingest logs 24 boosters of about 5 MiB through the Go
// client with 4 goroutines, as the bench's ingest phase does: "new" bytes
// no store has seen (each changed in every 4 KiB), then the "same" bytes
// again under other keys. MB/s is the logged content.
func BenchmarkClient_Ingest(b *testing.B) {
	var pool [][]byte
	for _, f := range []string{"json", "ubj", "xgb"} {
		for _, v := range []string{"model", "seed2", "data2"} {
			data, err := boosters.Read("m", v, f)
			if err != nil {
				b.Skipf("boosters: %v", err)
			}
			pool = append(pool, data)
		}
	}
	srv := newClientTestServer(b)
	waitFeatures(b, srv)
	c, ct := newCountingClient(b, srv.URL())
	round := 0
	fresh := func() [][]byte {
		round++
		out := make([][]byte, 24)
		for i := range out {
			out[i] = bytes.Clone(pool[i%len(pool)])
			for k := 0; k < len(out[i]); k += 4096 {
				out[i][k] ^= byte(1 + round*31 + i)
				out[i][k+1] ^= byte(round)
			}
		}
		return out
	}
	logAll := func(b *testing.B, files [][]byte, prefix string) int64 {
		return fourAtATime(len(files), func(i int) int64 {
			if _, err := c.Put(b.Context(), "test", fmt.Sprintf("%s/%d/%d", prefix, round, i), bytes.NewReader(files[i]), int64(len(files[i])), nil); err != nil {
				b.Error(err)
			}
			return int64(len(files[i]))
		})
	}
	// The get phases read boosters logged moments before back, 4 at a
	// time, through the Go client and through S3 on the same node.
	s3c := s3SDK(b, srv)
	readAll := func(b *testing.B, files [][]byte, prefix string, viaS3 bool) int64 {
		return fourAtATime(len(files), func(i int) int64 {
			key := fmt.Sprintf("%s/%d/%d", prefix, round, i)
			var got []byte
			var err error
			if viaS3 {
				var out *s3.GetObjectOutput
				if out, err = s3c.GetObject(b.Context(), &s3.GetObjectInput{Bucket: aws.String("test"), Key: aws.String(key)}); err == nil {
					got, err = io.ReadAll(out.Body)
					out.Body.Close()
				}
			} else {
				got, err = c.GetRange(b.Context(), "test", key, 0, -1)
			}
			if err != nil || !bytes.Equal(got, files[i]) {
				b.Errorf("read %s back: %d bytes, %v", key, len(got), err)
			}
			return int64(len(got))
		})
	}
	for _, phase := range []string{"new", "same"} {
		b.Run(phase, func(b *testing.B) {
			var total int64
			ct.reset()
			for b.Loop() {
				b.StopTimer()
				files := fresh()
				if phase == "same" {
					logAll(b, files, "first")
				}
				b.StartTimer()
				total += logAll(b, files, phase)
			}
			b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
			// The share of the puts' time spent in the server's commit
			// (4 at once, so up to 4).
			b.ReportMetric(float64(ct.commitTime.Load())/float64(b.Elapsed()), "commit-frac")
		})
	}
	for _, phase := range []string{"get", "s3get"} {
		b.Run(phase, func(b *testing.B) {
			var total int64
			for b.Loop() {
				b.StopTimer()
				files := fresh()
				logAll(b, files, phase)
				b.StartTimer()
				total += readAll(b, files, phase, phase == "s3get")
			}
			b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
		})
	}
}

// fourAtATime calls fn for 0 to n-1 from 4 goroutines, as 4 clients
// would, and returns the sum of what it returns.
func fourAtATime(n int, fn func(i int) int64) int64 {
	work := make(chan int)
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 4 {
		wg.Go(func() {
			for i := range work {
				total.Add(fn(i))
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return total.Load()
}
