package daemon

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/raftfsm"
)

// BenchmarkGC_ChunkRefs times garbage collection of many chunk
// references on one node: files that reference CAIRN_BENCH_GC_REFS
// distinct chunks in all (default 10,000,000, 65,536 a file) are
// committed; a full GC pass walks them (finding nothing to delete); then
// the files are deleted and GC collects the chunks through the
// zero-reference table, pruning it. The
// chunks are tiny (16 bytes, inline in the index), so the figure is the
// cost per reference, not the disk's.
//
//	go test -run '^$' -bench GC_ChunkRefs -benchtime 1x -timeout 60m ./daemon
func BenchmarkGC_ChunkRefs(b *testing.B) {
	refs := 10_000_000
	if v := os.Getenv("CAIRN_BENCH_GC_REFS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("CAIRN_BENCH_GC_REFS=%q: want a positive count", v)
		}
		refs = n
	}
	for range b.N {
		b.StopTimer()
		clock := &testClock{}
		clock.ns.Store(time.Now().UnixNano())
		srv := newTestServer(b, func(c *Config) { c.Now, c.GCInterval, c.GCFullInterval, c.MinFreeSpace = clock.Now, -1, -1, -1 })
		mkBucket(b, srv, "gcbench")
		ctx := b.Context()
		start := time.Now()
		var files int
		for done := 0; done < refs; files++ {
			n := min(raftfsm.MaxChunksPerFile, refs-done)
			recipe := make(cas.Recipe, n)
			batch := make([]cas.StoredChunk, 0, 4096)
			for i := range n {
				content := make([]byte, 16)
				binary.LittleEndian.PutUint64(content, uint64(done+i))
				d := chunk.Sum(content)
				recipe[i] = chunk.Ref{Digest: d, Size: uint32(len(content))}
				batch = append(batch, cas.StoredChunk{Digest: d, Value: append([]byte{byte(cas.CodecRaw)}, content...)})
				if len(batch) == cap(batch) || i == n-1 {
					if _, err := srv.Store().PutStoredBatch(ctx, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			cmd := &raftfsm.PutObject{Bucket: "gcbench", Key: fmt.Sprintf("f%05d", files),
				File: raftfsm.File{Digest: chunk.Sum([]byte(fmt.Sprint(files))), Size: int64(16 * n), Recipe: recipe},
				Meta: raftfsm.ObjectMeta{ETag: `"x"`}, Time: clock.Now().UnixNano()}
			if _, err := srv.core.Propose(ctx, cmd); err != nil {
				b.Fatal(err)
			}
			done += n
		}
		filled := time.Since(start)
		b.StartTimer()
		t0 := time.Now()
		walk, err := srv.upkeep.FullGC(ctx)
		fullGC := time.Since(t0)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if walk.Scanned != int64(refs) || walk.Deleted != 0 {
			b.Fatalf("full gc over %d referenced chunks: %+v", refs, walk)
		}
		for i := range files {
			if _, err := srv.core.Propose(ctx, &raftfsm.DeleteObject{Bucket: "gcbench", Key: fmt.Sprintf("f%05d", i)}); err != nil {
				b.Fatal(err)
			}
		}
		clock.Advance(2 * time.Hour) // past the grace period of the writes
		b.StartTimer()
		t1 := time.Now()
		res, err := srv.upkeep.GC(ctx)
		gc := time.Since(t1)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Deleted != int64(refs) || res.Pruned != int64(refs) || res.Backlog != 0 {
			b.Fatalf("gc of %d references: %+v", refs, res)
		}
		b.ReportMetric(fullGC.Seconds(), "full-walk-s")
		b.ReportMetric(gc.Seconds(), "gc-s")
		b.ReportMetric(float64(refs)/gc.Seconds(), "refs/s")
		b.Logf("%d references in %d files: filled in %.1f s; a full pass walked them in %.1f s; after the deletes GC deleted %d chunks and pruned %d entries in %.1f s",
			refs, files, filled.Seconds(), fullGC.Seconds(), res.Deleted, res.Pruned, gc.Seconds())
	}
}
