package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cairn/cas/chunk"
	"cairn/client"
	"cairn/client/s3client"
)

// backupOut is the part of backup create's --json the tests read.
type backupOut struct {
	Location      string `json:"location"`
	Snapshot      string `json:"snapshot"`
	Objects       int    `json:"objects"`
	Chunks        int    `json:"chunks"`
	CopiedChunks  int    `json:"copied_chunks"`
	SkippedChunks int    `json:"skipped_chunks"`
	SHA256        string `json:"sha256"`
}

type verifyOut struct {
	OK            bool           `json:"ok"`
	ChunksChecked int            `json:"chunks_checked"`
	Missing       []chunk.Digest `json:"missing_chunks"`
	Corrupt       []chunk.Digest `json:"corrupt_chunks"`
	Problems      []string       `json:"problems"`
}

func decodeFirst[T any](t testing.TB, s string) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(strings.NewReader(s)).Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

// distinctChunks returns the distinct chunks of an object.
func distinctChunks(t testing.TB, srv *Server, bucket, key string) []chunk.Digest {
	t.Helper()
	var st client.Stat
	if code := call(t, http.MethodGet, srv.URL()+"/v1/stat/"+bucket+"/"+key, nil, &st); code != 200 {
		t.Fatalf("stat %s/%s: %d", bucket, key, code)
	}
	return chunk.Recipe(st.Recipe).Distinct()
}

// TestBackup_File backs a node up into a folder with its chunks, checks
// that a second backup copies only the chunks added meanwhile, and that
// verify catches a flipped byte and a missing chunk.
func TestBackup_File(t *testing.T) {
	srv := newTestServer(t)
	waitFeatures(t, srv) // backups in the zstd format (2)
	env := cliEnv(srv.URL())
	mkBucket(t, srv, "bkt")
	for i := range 4 {
		putBytes(t, srv, "bkt", fmt.Sprintf("k%d", i), s3Payload(uint64(100+i), 200<<10+i*50<<10))
	}
	putBytes(t, srv, "bkt", "dup", s3Payload(100, 200<<10)) // the same content as k0
	dir := t.TempDir()

	first := decodeFirst[backupOut](t, mustCLI(t, env, "backup", "create", dir+"/", "--with-chunks", "--json"))
	if first.Objects != 5 || first.Chunks == 0 || first.CopiedChunks != first.Chunks || first.SkippedChunks != 0 {
		t.Fatalf("first backup: %+v", first)
	}
	if _, err := os.Stat(strings.TrimSuffix(first.Location, ".snap") + ".json"); err != nil {
		t.Fatalf("no manifest beside %s: %v", first.Location, err)
	}
	if hdr, err := os.ReadFile(first.Location); err != nil || len(hdr) < 9 || string(hdr[:9]) != "CAIRNFSM\x02" {
		t.Fatalf("backup %s is not in format 2: %q, %v", first.Location, hdr[:min(len(hdr), 9)], err)
	}
	v := decodeFirst[verifyOut](t, mustCLI(t, env, "backup", "verify", first.Location, "--json"))
	if !v.OK || v.ChunksChecked != first.Chunks {
		t.Fatalf("verify: %+v", v)
	}

	t.Run("Incremental", func(t *testing.T) {
		again := decodeFirst[backupOut](t, mustCLI(t, env, "backup", "create", dir, "--with-chunks", "--json"))
		if again.CopiedChunks != 0 || again.SkippedChunks != first.Chunks {
			t.Fatalf("nothing changed, yet the second backup copied %d chunks (skipped %d of %d)", again.CopiedChunks, again.SkippedChunks, first.Chunks)
		}
		putBytes(t, srv, "bkt", "new", s3Payload(200, 600<<10))
		n := len(distinctChunks(t, srv, "bkt", "new"))
		third := decodeFirst[backupOut](t, mustCLI(t, env, "backup", "create", dir, "--with-chunks", "--json"))
		if third.CopiedChunks != n || third.Chunks != first.Chunks+n {
			t.Fatalf("after adding %d chunks the backup copied %d (references %d, first %d)", n, third.CopiedChunks, third.Chunks, first.Chunks)
		}
		// verify with a folder takes its newest backup.
		if v := decodeFirst[verifyOut](t, mustCLI(t, env, "backup", "verify", dir, "--json")); !v.OK || v.ChunksChecked != third.Chunks {
			t.Fatalf("verify the newest: %+v", v)
		}
	})

	t.Run("FlippedByte", func(t *testing.T) {
		d := distinctChunks(t, srv, "bkt", "k1")[0]
		p := filepath.Join(dir, "chunks", d.String()[:2], d.String())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, env, "backup", "verify", first.Location, "--json")
		v := decodeFirst[verifyOut](t, r.stdout)
		if r.code != 4 || v.OK || !slices.Equal(v.Corrupt, []chunk.Digest{d}) {
			t.Fatalf("verify after a flipped byte: exit %d, %+v; want exit 4 naming %s", r.code, v, d)
		}
		b[len(b)/2] ^= 1
		os.WriteFile(p, b, 0o644)
	})

	t.Run("MissingChunk", func(t *testing.T) {
		d := distinctChunks(t, srv, "bkt", "k2")[0]
		if err := os.Remove(filepath.Join(dir, "chunks", d.String()[:2], d.String())); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, env, "backup", "verify", first.Location, "--json")
		v := decodeFirst[verifyOut](t, r.stdout)
		if r.code != 4 || !slices.Equal(v.Missing, []chunk.Digest{d}) || len(v.Corrupt) != 0 {
			t.Fatalf("verify without a chunk: exit %d, %+v; want exit 4 naming %s", r.code, v, d)
		}
		// The next backup puts it back.
		if again := decodeFirst[backupOut](t, mustCLI(t, env, "backup", "create", dir, "--with-chunks", "--json")); again.CopiedChunks != 1 {
			t.Fatalf("the backup after a chunk went copied %d chunks, want 1", again.CopiedChunks)
		}
	})

	t.Run("FlippedSnapshot", func(t *testing.T) {
		b, err := os.ReadFile(first.Location)
		if err != nil {
			t.Fatal(err)
		}
		b[40] ^= 1
		bad := filepath.Join(t.TempDir(), "bad.snap")
		os.WriteFile(bad, b, 0o644)
		// Without a manifest the stream's own checks catch it (the zstd
		// stream's, or the digest of what it decodes to)...
		if r := runCLI(t, env, "backup", "verify", bad); r.code != 4 || !strings.Contains(r.stdout+r.err.Error(), "not a valid backup") {
			t.Fatalf("verify a flipped snapshot without its manifest: exit %d %v", r.code, r.err)
		}
		// ...and with it, the manifest's checksum.
		os.WriteFile(first.Location+".orig", b, 0o644)
		orig, _ := os.ReadFile(first.Location)
		os.WriteFile(first.Location, b, 0o644)
		r := runCLI(t, env, "backup", "verify", first.Location)
		os.WriteFile(first.Location, orig, 0o644)
		if r.code != 4 || !strings.Contains(r.err.Error(), "SHA-256") {
			t.Fatalf("verify a flipped snapshot: exit %d %v", r.code, r.err)
		}
	})

	t.Run("Stdout", func(t *testing.T) {
		out := mustCLI(t, env, "backup", "create", "-")
		info, err := client.ScanBackup(strings.NewReader(out))
		if err != nil || info.Objects < 5 {
			t.Fatalf("backup to stdout: %+v %v", info, err)
		}
		if r := runCLI(t, env, "backup", "create", "-", "--with-chunks"); r.code != 2 {
			t.Fatalf("--with-chunks to stdout: exit %d, want 2", r.code)
		}
	})
}

// TestBackup_S3 backs a node up to a second cairn node speaking S3, with
// chunks, verifies it there and checks the second backup copies nothing.
func TestBackup_S3(t *testing.T) {
	src := newTestServer(t)
	dst := newTestServer(t)
	k := s3Creds(t, dst)
	sc, err := s3client.New(s3client.Config{Endpoint: dst.URL(), AccessKey: k.AccessKey, SecretKey: k.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.CreateBucket(t.Context(), "backups"); err != nil {
		t.Fatal(err)
	}
	mkBucket(t, src, "bkt")
	for i := range 3 {
		putBytes(t, src, "bkt", fmt.Sprintf("k%d", i), s3Payload(uint64(300+i), 300<<10))
	}
	env := cliEnv(src.URL())
	env["CAIRN_BACKUP_ENDPOINT"] = dst.URL()
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = k.AccessKey, k.SecretKey

	first := decodeFirst[backupOut](t, mustCLI(t, env, "backup", "create", "s3://backups/cairn/daily", "--with-chunks", "--json"))
	if first.Objects != 3 || first.CopiedChunks != first.Chunks || first.Chunks == 0 || !strings.HasPrefix(first.Location, "s3://backups/cairn/daily/cairn-") {
		t.Fatalf("backup to S3: %+v", first)
	}
	info, err := sc.HeadObject(t.Context(), "backups", "cairn/daily/"+strings.TrimSuffix(first.Snapshot, ".snap")+".json")
	if err != nil || info.Size == 0 {
		t.Fatalf("no manifest in S3: %+v %v", info, err)
	}
	if v := decodeFirst[verifyOut](t, mustCLI(t, env, "backup", "verify", "s3://backups/cairn/daily", "--json")); !v.OK || v.ChunksChecked != first.Chunks {
		t.Fatalf("verify in S3: %+v", v)
	}
	again := decodeFirst[backupOut](t, mustCLI(t, env, "backup", "create", "s3://backups/cairn/daily", "--with-chunks", "--json"))
	if again.CopiedChunks != 0 || again.SkippedChunks != first.Chunks {
		t.Fatalf("second backup to S3 copied %d chunks", again.CopiedChunks)
	}
	// A chunk deleted in S3 is reported missing.
	d := distinctChunks(t, src, "bkt", "k0")[0]
	if err := sc.DeleteObject(t.Context(), "backups", "cairn/daily/chunks/"+d.String()[:2]+"/"+d.String()); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, env, "backup", "verify", "s3://backups/cairn/daily", "--json")
	if v := decodeFirst[verifyOut](t, r.stdout); r.code != 4 || !slices.Equal(v.Missing, []chunk.Digest{d}) {
		t.Fatalf("verify without a chunk in S3: exit %d %+v", r.code, v)
	}
	// Without keys, the error says which to set and shows no secret.
	delete(env, "AWS_SECRET_ACCESS_KEY")
	r = runCLI(t, env, "backup", "verify", "s3://backups/cairn/daily")
	if r.code != 2 || !strings.Contains(r.err.Error(), "CAIRN_BACKUP_SECRET_KEY") {
		t.Fatalf("no secret key: exit %d %v", r.code, r.err)
	}
}

// TestBackup_RestoreCluster backs up a 3-node cluster with its chunks,
// restores it into a fresh 3-node cluster (the CLI names a follower
// first) and reads every object back from every node, byte for byte.
func TestBackup_RestoreCluster(t *testing.T) {
	src := newTestCluster(t, 3, steadyLeader)
	l := src.nodes[src.leader()]
	waitFeatures(t, l) // a backup in the zstd format (2), which turns it on in dst
	mkBucket(t, l, "mlflow")
	mkBucket(t, l, "other")
	want := map[string][]byte{}
	for i := range 6 {
		b := s3Payload(uint64(500+i), 100<<10+i*90<<10)
		key := fmt.Sprintf("1/%032x/artifacts/model/part%d", i, i)
		if code, _ := put(t, l, "mlflow", key, b); code != 200 {
			t.Fatalf("put %s: %d", key, code)
		}
		want["mlflow/"+key] = b
	}
	shared := want["mlflow/1/00000000000000000000000000000002/artifacts/model/part2"]
	if code, _ := put(t, l, "other", "copy", shared); code != 200 {
		t.Fatal("put copy")
	}
	want["other/copy"] = shared
	dir := t.TempDir()
	srcEnv := cliEnv(src.nodes[0].URL(), src.nodes[1].URL(), src.nodes[2].URL())
	b := decodeFirst[backupOut](t, mustCLI(t, srcEnv, "backup", "create", dir, "--with-chunks", "--json"))
	if b.Objects != 7 {
		t.Fatalf("backup: %+v", b)
	}

	dst := newTestCluster(t, 3, steadyLeader)
	f := dst.follower()
	t.Run("FollowerNamesLeader", func(t *testing.T) {
		r := runCLI(t, cliEnv(dst.nodes[f].URL()), "backup", "restore", dir, "--retries=-1")
		lid := fmt.Sprintf("node%d", dst.leader())
		if r.code == 0 || !strings.Contains(r.err.Error(), "does not lead: "+lid+" does") {
			t.Fatalf("restore sent to a follower: exit %d %v; want an error naming %s", r.code, r.err, lid)
		}
		t.Logf("restore sent to a follower: %v", r.err)
	})
	order := []string{dst.nodes[f].URL()}
	for i, n := range dst.nodes {
		if i != f {
			order = append(order, n.URL())
		}
	}
	res := decodeFirst[restoreOut](t, mustCLI(t, cliEnv(order...), "backup", "restore", dir, "--json"))
	if res.Chunks != b.Chunks || res.ChunksUploaded != b.Chunks || res.ChunksMissing != b.Chunks || len(res.ObjectsLacking) != 0 {
		t.Fatalf("restore: %+v, backup %+v", res, b)
	}
	for _, n := range dst.nodes {
		for bk, content := range want {
			bucket, key, _ := strings.Cut(bk, "/")
			waitFor(t, func() bool {
				code, got := getConsistent(t, n, bucket, key)
				return code == 200 && string(got) == string(content)
			})
		}
	}
	dst.ensureSame()
}

type restoreOut struct {
	Chunks         int      `json:"chunks"`
	ChunksMissing  int      `json:"chunks_missing"`
	ChunksUploaded int      `json:"chunks_uploaded"`
	StillMissing   []string `json:"still_missing"`
	ObjectsLacking []string `json:"objects_lacking"`
}
