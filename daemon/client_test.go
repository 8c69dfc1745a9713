package daemon

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/cas/chunk"
	"cairn/client"
)

func TestClient_PutDirTwiceSendsNothing(t *testing.T) {
	srv := newClientTestServer(t)
	waitFeatures(t, srv) // the folder in one commit
	c, ct := newCountingClient(t, srv.URL())
	dir := clientModelDir(t)
	first, err := c.PutDir(t.Context(), "test", "runs/a", dir, nil)
	if err != nil {
		t.Fatalf("first put: %v", err)
	}
	if first.Files != 5 || first.SentBytes != first.Bytes || first.SentBytes == 0 {
		t.Fatalf("first put: %+v, want 5 files all sent", first.PutStats)
	}
	ct.reset()
	second, err := c.PutDir(t.Context(), "test", "runs/b", dir, nil)
	if err != nil {
		t.Fatalf("second put: %v", err)
	}
	if second.SentBytes != 0 || second.SentChunks != 0 || ct.chunkPuts.Load() != 0 || ct.putBytes.Load() != 0 {
		t.Fatalf("second put sent %d bytes in %d chunk PUTs (%+v), want none", ct.putBytes.Load(), ct.chunkPuts.Load(), second.PutStats)
	}
	if second.Bytes != first.Bytes || ct.commits.Load() != 1 || ct.missing.Load() != 1 {
		t.Fatalf("second put: %+v, %d commits, %d missing questions; want the same bytes, 1 and 1", second.PutStats, ct.commits.Load(), ct.missing.Load())
	}
}

// TestClient_RetrainedBoosterSendsOnlyChanges logs a booster, then the
// same booster trained one more round, and checks that only the chunks
// the server lacked went over the wire.
func TestClient_RetrainedBoosterSendsOnlyChanges(t *testing.T) {
	srv := newClientTestServer(t)
	c, ct := newCountingClient(t, srv.URL())
	for _, format := range []string{"json", "ubj", "xgb"} {
		t.Run(format, func(t *testing.T) {
			base, next := clientBooster(t, "model", format), clientBooster(t, "plus1", format)
			if _, err := c.PutFile(t.Context(), "test", "b/model."+format, base, nil); err != nil {
				t.Fatal(err)
			}
			fh, err := client.HashFile(t.Context(), next)
			if err != nil {
				t.Fatal(err)
			}
			lacked, err := srv.Store().Missing(t.Context(), fh.Recipe.Distinct())
			if err != nil {
				t.Fatal(err)
			}
			sizes := map[chunk.Digest]int64{}
			for _, r := range fh.Recipe {
				sizes[r.Digest] = int64(r.Size)
			}
			var want int64
			for _, d := range lacked {
				want += sizes[d]
			}
			ct.reset()
			u, err := c.PutFile(t.Context(), "test", "b/plus1."+format, next, nil)
			if err != nil {
				t.Fatal(err)
			}
			if u.SentBytes != want || ct.putBytes.Load() != want || u.SentChunks != len(lacked) {
				t.Fatalf("sent %d bytes (%d on the wire) in %d chunks, want %d in %d", u.SentBytes, ct.putBytes.Load(), u.SentChunks, want, len(lacked))
			}
			frac := float64(u.SentBytes) / float64(u.Bytes)
			t.Logf("%s: sent %d of %d bytes (%.1f%%), %d of %d chunks", format, u.SentBytes, u.Bytes, 100*frac, u.SentChunks, u.Chunks)
			if frac > 0.25 {
				t.Fatalf("sent %.0f%% of the retrained booster, want far less", 100*frac)
			}
			if u.Object.Digest != fh.Digest {
				t.Fatalf("committed digest %s, want %s", u.Object.Digest, fh.Digest)
			}
		})
	}
}

func TestClient_GetRoundTrip(t *testing.T) {
	srv := newClientTestServer(t)
	c, _ := newCountingClient(t, srv.URL())
	dir := clientModelDir(t)
	prefix := clientTestExp + "/" + clientTestRun + "/artifacts/models_mlflow"
	if _, err := c.PutDir(t.Context(), "test", prefix, dir, nil); err != nil {
		t.Fatal(err)
	}
	t.Run("Run", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "out")
		res, err := c.Get(t.Context(), "runs:/"+clientTestRun+"/models_mlflow", dst, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Resolved.IsDir || res.Files != 5 {
			t.Fatalf("got %+v", res)
		}
		clientSameTree(t, clientDigestTree(t, dst), clientDigestTree(t, dir))
	})
	t.Run("File", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "model.xgb")
		if _, err := c.Get(t.Context(), "test/"+prefix+"/model.xgb", dst, nil); err != nil {
			t.Fatal(err)
		}
		clientSameTree(t, map[string]chunk.Digest{"f": clientDigestTree(t, filepath.Dir(dst))["model.xgb"]},
			map[string]chunk.Digest{"f": clientDigestTree(t, dir)["model.xgb"]})
	})
	t.Run("Range", func(t *testing.T) {
		want, _ := os.ReadFile(filepath.Join(dir, "model.xgb"))
		for _, r := range [][2]int64{{0, 10}, {100000, 300000}, {int64(len(want)) - 5, 5}, {1 << 20, -1}} {
			got, err := c.GetRange(t.Context(), "test", prefix+"/model.xgb", r[0], r[1])
			if err != nil {
				t.Fatal(err)
			}
			end := int64(len(want))
			if r[1] >= 0 {
				end = r[0] + r[1]
			}
			if !bytes.Equal(got, want[r[0]:end]) {
				t.Fatalf("range %v: got %d bytes, differing", r, len(got))
			}
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := c.Get(t.Context(), "test/nope", filepath.Join(t.TempDir(), "x"), nil)
		if !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
}

// TestClient_ResumeDownload interrupts a download after a few chunks and
// checks that the next one verifies what the partial file holds, fetches
// only the rest and yields the same bytes.
func TestClient_ResumeDownload(t *testing.T) {
	srv := newClientTestServer(t)
	c, _ := newCountingClient(t, srv.URL())
	src := clientBooster(t, "model", "json")
	if _, err := c.PutFile(t.Context(), "test", "m.json", src, nil); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stat(t.Context(), "test", "m.json")
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "m.json")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// One request at a time, so that the two answered are written before
	// the third (of about five, 1 MiB each) is refused.
	bt := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	bt.fail = clientFailAfter(2, cancel)
	broken, err := client.New(client.Config{Endpoints: []string{srv.URL()}, HTTPClient: &http.Client{Transport: bt}, Parallelism: 1,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broken.GetFile(ctx, "test", "m.json", dest, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted get: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("destination after an interrupted get: %v, want none", err)
	}
	good, lacking := clientPartialState(t, dest+client.PartialSuffix, st.Recipe)
	if good == 0 || len(lacking) == 0 {
		t.Fatalf("partial file holds %d good chunks and lacks %d, want some of each", good, len(lacking))
	}

	c2, ct := newCountingClient(t, srv.URL())
	d, err := c2.GetFile(t.Context(), "test", "m.json", dest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if int(ct.chunkGets.Load()) != len(lacking) || d.FetchedChunks != len(lacking) || d.ReusedChunks != good {
		t.Fatalf("resumed get fetched %d chunks (%+v), want the %d lacking, reusing %d", ct.chunkGets.Load(), d.GetStats, len(lacking), good)
	}
	clientSameFile(t, dest, src)
	if _, err := os.Stat(dest + client.PartialSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial file after a complete get: %v, want none", err)
	}
	t.Logf("interrupted after %d of %d chunks; resumed fetching %d", good, len(st.Recipe), len(lacking))
}

// TestClient_CorruptChunkDetected serves the client through a proxy that
// flips a byte of one chunk: the download fails naming that chunk, and
// the destination never appears.
func TestClient_CorruptChunkDetected(t *testing.T) {
	srv := newClientTestServer(t)
	c, _ := newCountingClient(t, srv.URL())
	if _, err := c.PutFile(t.Context(), "test", "m.xgb", clientBooster(t, "model", "xgb"), nil); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stat(t.Context(), "test", "m.xgb")
	if err != nil {
		t.Fatal(err)
	}
	bad := st.Recipe[3].Digest
	ps := corruptingProxy(t, srv.URL(), bad.String())
	pc, _ := newCountingClient(t, ps.URL)
	dest := filepath.Join(t.TempDir(), "m.xgb")
	_, err = pc.Get(t.Context(), "test/m.xgb", dest, nil)
	if !errors.Is(err, client.ErrDigestMismatch) || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("get through a corrupting proxy: %v, want ErrDigestMismatch naming %s", err, bad)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("destination after a corrupt chunk: %v, want none", err)
	}
	if _, err := pc.GetRange(t.Context(), "test", "m.xgb", 0, -1); !errors.Is(err, client.ErrDigestMismatch) {
		t.Fatalf("range through a corrupting proxy: %v, want ErrDigestMismatch", err)
	}
	// What the partial file holds at the bad chunk is not the corrupt bytes:
	// nothing unverified was written.
	good, lacking := clientPartialState(t, dest+client.PartialSuffix, st.Recipe)
	if !lacking[bad] || good >= len(st.Recipe) {
		t.Fatalf("partial file: %d good chunks, lacking %v; want the bad chunk absent", good, lacking)
	}
}

// TestClient_Failover gives the client a dead endpoint first: every call
// still works.
func TestClient_Failover(t *testing.T) {
	srv := newClientTestServer(t)
	c, _ := newCountingClient(t, clientDeadEndpoint(t), srv.URL())
	ctx := t.Context()
	dir := clientModelDir(t)
	prefix := clientTestExp + "/" + clientTestRun + "/artifacts/model"
	if _, err := c.PutDir(ctx, "test", prefix, dir, nil); err != nil {
		t.Fatalf("put dir: %v", err)
	}
	if _, err := c.Get(ctx, "runs:/"+clientTestRun+"/model", filepath.Join(t.TempDir(), "m"), nil); err != nil {
		t.Fatalf("get: %v", err)
	}
	steps := map[string]func() error{
		"List": func() error {
			_, err := c.List(ctx, "test", client.ListOptions{Prefix: clientTestExp + "/"})
			return err
		},
		"Stat":    func() error { _, err := c.Stat(ctx, "test", prefix+"/MLmodel"); return err },
		"Models":  func() error { _, err := c.Models(ctx, client.ModelFilter{Flavor: "xgboost"}); return err },
		"Runs":    func() error { _, err := c.Runs(ctx, client.RunFilter{}); return err },
		"Stats":   func() error { _, err := c.Stats(ctx, 0); return err },
		"Cluster": func() error { _, err := c.Admin().ClusterStatus(ctx); return err },
		"Buckets": func() error { _, err := c.Buckets(ctx); return err },
		"Ref": func() error {
			_, err := c.PutRef(ctx, "best", client.RefRequest{Target: "runs:/" + clientTestRun, IfVersion: new(uint64)})
			return err
		},
		"Delete": func() error { _, err := c.DeletePrefix(ctx, "test", prefix+"/"); return err },
	}
	for _, name := range []string{"List", "Stat", "Models", "Runs", "Stats", "Cluster", "Buckets", "Ref", "Delete"} {
		if err := steps[name](); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
