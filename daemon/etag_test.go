package daemon

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cairn/client"
	"cairn/raftfsm"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// waitFeatures waits until the cluster has turned every feature of this
// release on: the leader does so by itself once every member knows them.
func waitFeatures(t testing.TB, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, f := range raftfsm.Features {
		for !srv.core.State().Feature(f) {
			if time.Now().After(deadline) {
				t.Fatalf("the leader did not turn %s on within 15 s", f)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestLateETags_Readers commits a file through the Go client once the
// cluster leaves MD5s for after the acknowledgement, with the leader held
// from filling them: the commit answers without an ETag, and every
// surface that shows one computes the MD5 on the spot; a conditional
// write compares it (the node fills it into the state first, since the
// state machine cannot compute it); the leader's fill then stores it.
func TestLateETags_Readers(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.holdLateETags = true })
	waitFeatures(t, srv)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "late")
	data := content("late", 3<<20)
	md5ETag := fmt.Sprintf(`"%x"`, md5.Sum(data))
	cl, err := client.New(client.Config{Endpoints: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b", "c"} {
		up, err := cl.Put(t.Context(), "late", key, bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if up.Object.ETag != "" {
			t.Fatalf("commit of %s answered ETag %s; a late ETag is not known yet", key, up.Object.ETag)
		}
	}
	st := srv.core.State()
	late, err := st.LateETags(nil, 0)
	if err != nil || len(late) != 3 {
		t.Fatalf("late ETags in the state: %v, %v; want a, b and c", late, err)
	}

	head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("late"), Key: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(head.ETag); got != md5ETag {
		t.Errorf("S3 HEAD: ETag %s, want the MD5 %s", got, md5ETag)
	}
	list, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("late")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		if got := aws.ToString(o.ETag); got != md5ETag {
			t.Errorf("S3 list: %s has ETag %s, want %s", aws.ToString(o.Key), got, md5ETag)
		}
	}
	stat, err := cl.Stat(t.Context(), "late", "a")
	if err != nil {
		t.Fatal(err)
	}
	if stat.ETag != md5ETag {
		t.Errorf("native stat: ETag %s, want %s", stat.ETag, md5ETag)
	}
	_, err = c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("late"), Key: aws.String("a"), IfNoneMatch: aws.String(md5ETag)})
	wantS3Error(t, err, "NotModified", 304)
	if o, _, _ := st.Object("late", "a"); !raftfsm.LateETag(&o) {
		t.Fatal("reading the ETag stored it; only the leader's fill and conditional writes do")
	}

	// A copy of a late object is late too, and its answer has the MD5.
	cp, err := c.CopyObject(t.Context(), &s3.CopyObjectInput{Bucket: aws.String("late"), Key: aws.String("copy"), CopySource: aws.String("late/c")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(cp.CopyObjectResult.ETag); got != md5ETag {
		t.Errorf("S3 CopyObject of a late object answered ETag %q, want %s", got, md5ETag)
	}
	if head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("late"), Key: aws.String("copy")}); err != nil || aws.ToString(head.ETag) != md5ETag {
		t.Errorf("S3 HEAD of the copy: %v, %v; want %s", head, err, md5ETag)
	}

	// Conditional writes: a wrong ETag is refused, the MD5 matches.
	_, err = c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("late"), Key: aws.String("a"),
		Body: bytes.NewReader([]byte("x")), IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)})
	wantS3Error(t, err, "PreconditionFailed", 412)
	if got := s3Get(t, c, "late", "a"); !bytes.Equal(got, data) {
		t.Fatal("a refused conditional PUT changed the object")
	}
	_, err = c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("late"), Key: aws.String("b"),
		Body: bytes.NewReader([]byte("x")), IfMatch: aws.String(md5ETag)})
	if err != nil {
		t.Fatalf("PUT If-Match the MD5 of a late object: %v", err)
	}
	if got := s3Get(t, c, "late", "b"); string(got) != "x" {
		t.Fatalf("b holds %q after the conditional PUT, want x", got)
	}

	// The leader's fill stores the MD5 of what is still late.
	if _, err := srv.core.ETags().FillLate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if late, err := st.LateETags(nil, 0); err != nil || len(late) != 0 {
		t.Fatalf("late ETags after the fill: %v, %v", late, err)
	}
	for _, key := range []string{"a", "c", "copy"} {
		if o, _, err := st.Object("late", key); err != nil || o.Meta.ETag != md5ETag {
			t.Errorf("%s in the state after the fill: ETag %q, %v; want %s", key, o.Meta.ETag, err, md5ETag)
		}
	}
	// A commit of the same file now takes the stored ETag.
	up, err := cl.Put(t.Context(), "late", "d", bytes.NewReader(data), int64(len(data)), nil)
	if err != nil || up.Object.ETag != md5ETag {
		t.Fatalf("commit of a file whose ETag is filled: %q, %v; want %s", up.Object.ETag, err, md5ETag)
	}
}

// TestLateETags_Filled leaves the leader to fill late ETags by itself:
// once the node is quiet, the state holds each object's MD5.
func TestLateETags_Filled(t *testing.T) {
	srv := newTestServer(t)
	waitFeatures(t, srv)
	cl := goClient(t, srv.URL(), "filled")
	want := map[string]string{}
	for i := range 5 {
		data := content(fmt.Sprint("filled", i), 1<<20+i)
		key := fmt.Sprint("k", i)
		if _, err := cl.Put(t.Context(), "filled", key, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			t.Fatal(err)
		}
		want[key] = fmt.Sprintf(`"%x"`, md5.Sum(data))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for key, etag := range want {
		for {
			o, _, err := srv.core.State().Object("filled", key)
			if err != nil {
				t.Fatal(err)
			}
			if o.Meta.ETag != "" {
				if o.Meta.ETag != etag {
					t.Errorf("%s: filled ETag %s, want %s", key, o.Meta.ETag, etag)
				}
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s still has no ETag in the state after 30 s", key)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// TestLateETags_WaitForEveryMember covers a rolling upgrade: while one
// member does not say it knows late ETags (a node of an older release,
// which could not decode FillETags) or zstd snapshots, the leader turns
// neither on and commits compute the MD5 before answering; once that
// member runs this release, the leader turns both on.
func TestLateETags_WaitForEveryMember(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.olderRelease = cfg.NodeID == "node2" })
	leader := c.nodes[c.leader()]
	// The leader asks its peers on its first second as leader, then every
	// ten seconds.
	time.Sleep(3 * time.Second)
	for i, srv := range c.nodes {
		for _, f := range raftfsm.Features {
			if srv.core.State().Feature(f) {
				t.Fatalf("node %d has %s on while node2 does not know it", i, f)
			}
		}
	}
	data := content("wait", 1<<20)
	md5ETag := fmt.Sprintf(`"%x"`, md5.Sum(data))
	cl := goClient(t, leader.URL(), "wait")
	up, err := cl.Put(t.Context(), "wait", "k", bytes.NewReader(data), int64(len(data)), nil)
	if err != nil || up.Object.ETag != md5ETag {
		t.Fatalf("commit before late ETags: ETag %q, %v; want the MD5 %s", up.Object.ETag, err, md5ETag)
	}

	c.stop(2)
	c.cfgs[2].olderRelease = false
	c.restart(2)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < len(c.nodes); i++ {
		for _, f := range raftfsm.Features {
			for !c.nodes[i].core.State().Feature(f) {
				if time.Now().After(deadline) {
					t.Fatalf("node %d: %s still off 30 s after every member knows it", i, f)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	st, err := cl.Admin().ClusterStatus(t.Context())
	if err != nil || !slices.Equal(st.Features, raftfsm.Features) {
		t.Fatalf("cluster status: features %v, %v; want %v on", st.Features, err, raftfsm.Features)
	}
}

// TestLateETags_Downloads checks that the Go client's downloads, which
// need only recipes, do not make the node compute MD5s it has not filled
// yet (?etag=omit), while a plain stat still gives the MD5.
func TestLateETags_Downloads(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.holdLateETags = true })
	waitFeatures(t, srv)
	cl := goClient(t, srv.URL(), "dl-test")
	files := map[string][]byte{"run/a": content("dl-a", 2<<20), "run/b": content("dl-b", 1<<20+7)}
	for key, data := range files {
		if _, err := cl.Put(t.Context(), "dl-test", key, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			t.Fatal(err)
		}
	}
	computed := srv.core.Metrics().ETagsComputed.Load()

	resp, err := http.Get(srv.URL() + "/v1/stat/dl-test/run/a?etag=omit")
	if err != nil {
		t.Fatal(err)
	}
	var st client.Stat
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || st.ETag != "" || len(st.Recipe) == 0 {
		t.Fatalf("stat ?etag=omit: %d %+v, %v; want the recipe and no ETag", resp.StatusCode, st, err)
	}
	got, err := cl.GetRange(t.Context(), "dl-test", "run/a", 0, -1)
	if err != nil || !bytes.Equal(got, files["run/a"]) {
		t.Fatalf("GetRange: %d bytes, %v", len(got), err)
	}
	dir := t.TempDir()
	if _, err := cl.GetDir(t.Context(), "dl-test", "run/", dir, nil); err != nil {
		t.Fatal(err)
	}
	for key, data := range files {
		if got, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(key, "run/"))); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GetDir: %s: %d bytes, %v", key, len(got), err)
		}
	}
	if n := srv.core.Metrics().ETagsComputed.Load() - computed; n != 0 {
		t.Fatalf("downloads made the node compute %d MD5s", n)
	}

	stat, err := cl.Stat(t.Context(), "dl-test", "run/b")
	if want := fmt.Sprintf(`"%x"`, md5.Sum(files["run/b"])); err != nil || stat.ETag != want {
		t.Fatalf("stat: ETag %q, %v; want %s", stat.ETag, err, want)
	}
	if n := srv.core.Metrics().ETagsComputed.Load() - computed; n != 1 {
		t.Fatalf("a stat of a late ETag computed %d MD5s, want 1", n)
	}
}

// TestLateETags_FillYields checks the fill's way of yielding to
// foreground work: a batch told to stop computes one ETag, proposes it
// and reports more to do, and the next batch goes on after it rather than
// from the first; a whole batch then fills the rest.
func TestLateETags_FillYields(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.holdLateETags = true })
	waitFeatures(t, srv)
	cl := goClient(t, srv.URL(), "yield")
	want := map[string]string{}
	for _, key := range []string{"k1", "k2", "k3", "k4"} {
		data := content("yield-"+key, 1<<20)
		if _, err := cl.Put(t.Context(), "yield", key, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			t.Fatal(err)
		}
		want[key] = fmt.Sprintf(`"%x"`, md5.Sum(data))
	}
	st := srv.core.State()
	late := func() []string {
		t.Helper()
		refs, err := st.LateETags(nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range refs {
			keys = append(keys, r.Key)
		}
		return keys
	}
	if got := late(); len(got) != 4 {
		t.Fatalf("late before any fill: %v", got)
	}
	stop := func() bool { return true }
	for i, wantLate := range [][]string{{"k2", "k3", "k4"}, {"k3", "k4"}} {
		more, err := srv.core.ETags().FillLateUntil(t.Context(), stop)
		if err != nil || !more {
			t.Fatalf("batch %d told to stop: more %v, %v", i, more, err)
		}
		if got := late(); !slices.Equal(got, wantLate) {
			t.Fatalf("late after batch %d told to stop: %v, want %v", i, got, wantLate)
		}
	}
	if _, err := srv.core.ETags().FillLate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := late(); len(got) != 0 {
		t.Fatalf("late after a whole batch: %v", got)
	}
	for key, etag := range want {
		if o, _, err := st.Object("yield", key); err != nil || o.Meta.ETag != etag {
			t.Errorf("%s: ETag %q, %v; want %s", key, o.Meta.ETag, err, etag)
		}
	}
}

// goClient returns a Go client of the node at url and makes bucket
// through it.
func goClient(t *testing.T, url, bucket string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateBucket(t.Context(), bucket, client.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return cl
}
