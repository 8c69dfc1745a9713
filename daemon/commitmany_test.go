package daemon

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"cairn/cas/chunk"
	"cairn/client"
)

// TestCommitMany_ModelFolder logs a real MLflow model folder through a
// follower of a three-node cluster: its files go in one commit, written
// by one Raft entry on every node; the folder reads back whole through
// runs:/; and a commit of several files where one fails its condition
// writes none of them.
func TestCommitMany_ModelFolder(t *testing.T) {
	c := newTestCluster(t, 3, steadyLeader)
	f := c.follower()
	waitFeatures(t, c.nodes[f])
	goClient(t, c.nodes[f].URL(), "mlflow")
	cl, ct := newCountingClient(t, c.nodes[f].URL())
	ctx := t.Context()
	dir := clientModelDir(t)
	want := clientDigestTree(t, dir)
	prefix := clientTestExp + "/" + clientTestRun + "/artifacts/model"
	up, err := cl.PutDir(ctx, "mlflow", prefix, dir, nil)
	if err != nil {
		t.Fatalf("put dir: %v", err)
	}
	if len(up.Uploads) != len(want) || up.Files != len(want) {
		t.Fatalf("logged %d files (%d counted), want %d", len(up.Uploads), up.Files, len(want))
	}
	if n := ct.commits.Load(); n != 1 {
		t.Errorf("%d commit requests for a folder of %d files, want 1", n, len(want))
	}
	// Every node holds every file, all written by the same Raft entry.
	l := c.nodes[c.leader()]
	for i := range c.nodes {
		if err := c.nodes[i].Node().WaitApplied(ctx, l.core.State().Applied()); err != nil {
			t.Fatal(err)
		}
		index := uint64(0)
		for _, u := range up.Uploads {
			o, _, err := c.nodes[i].core.State().Object("mlflow", u.Object.Key)
			if err != nil || o.Digest != want[strings.TrimPrefix(u.Object.Key, prefix+"/")] || o.Digest != u.Object.Digest {
				t.Fatalf("node %d: %s: %v, digest %s, the client was told %s", i, u.Object.Key, err, o.Digest.Short(), u.Object.Digest.Short())
			}
			if index != 0 && o.Index != index {
				t.Errorf("node %d: %s written at entry %d, the folder's first file at %d", i, u.Object.Key, o.Index, index)
			}
			index = o.Index
		}
	}
	got := filepath.Join(t.TempDir(), "m")
	if _, err := cl.Get(ctx, "runs:/"+clientTestRun+"/model", got, nil); err != nil {
		t.Fatalf("get runs:/: %v", err)
	}
	clientSameTree(t, clientDigestTree(t, got), want)

	// All or none: a new key beside one whose If-None-Match fails.
	first := up.Uploads[0].Object
	fresh := client.CommitObject{Key: "other/copy", CommitRequest: client.CommitRequest{
		Digest: first.Digest, Size: first.Size, Chunks: recipeOf(t, l, "mlflow", first.Key)}}
	taken := fresh
	taken.Key, taken.IfNoneMatch = first.Key, "*"
	_, err = cl.CommitMany(ctx, "mlflow", []client.CommitObject{fresh, taken})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionFailed {
		t.Fatalf("commit with a failing condition: %v, want 412", err)
	}
	if _, err := cl.Stat(ctx, "mlflow", fresh.Key); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the other file of the refused commit: %v, want not found", err)
	}
	res, err := cl.CommitMany(ctx, "mlflow", []client.CommitObject{fresh})
	if err != nil || len(res) != 1 || res[0].Object.Digest != first.Digest || res[0].Object.Key != fresh.Key {
		t.Fatalf("commit of the file alone: %+v, %v", res, err)
	}
}

// recipeOf is the recipe of the file bucket/key points to on srv.
func recipeOf(t *testing.T, srv *Server, bucket, key string) []chunk.Ref {
	t.Helper()
	_, f, err := srv.core.State().Object(bucket, key)
	if err != nil {
		t.Fatalf("%s/%s: %v", bucket, key, err)
	}
	return f.Recipe
}

// TestCommitMany_OlderMember covers a rolling upgrade: while a member
// runs a release that does not know PutObjects, a node answers a commit of
// several files NotImplemented, and the Go client logs a folder by
// committing its files one by one.
func TestCommitMany_OlderMember(t *testing.T) {
	c := newTestCluster(t, 3, steadyLeader, func(cfg *Config) { cfg.olderRelease = cfg.NodeID == "node2" })
	l := c.nodes[c.leader()]
	goClient(t, l.URL(), "mlflow")
	cl, ct := newCountingClient(t, l.URL())
	ctx := t.Context()
	dir := clientModelDir(t)
	want := clientDigestTree(t, dir)
	up, err := cl.PutDir(ctx, "mlflow", "run/model", dir, nil)
	if err != nil {
		t.Fatalf("put dir: %v", err)
	}
	if n := ct.commits.Load(); n != int64(len(want))+1 {
		t.Errorf("%d commit requests, want %d: the refused one and one a file", n, len(want)+1)
	}
	for _, u := range up.Uploads {
		o, _, err := l.core.State().Object("mlflow", u.Object.Key)
		if err != nil || o.Digest != want[strings.TrimPrefix(u.Object.Key, "run/model/")] {
			t.Fatalf("%s: %v, digest %s", u.Object.Key, err, o.Digest.Short())
		}
	}
	if len(up.Uploads) != len(want) {
		t.Fatalf("%d files logged, want %d", len(up.Uploads), len(want))
	}
	first := up.Uploads[0].Object
	_, err = cl.CommitMany(ctx, "mlflow", []client.CommitObject{{Key: "again", CommitRequest: client.CommitRequest{
		Digest: first.Digest, Size: first.Size, Chunks: recipeOf(t, l, "mlflow", first.Key)}}})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented || ae.Code != "NotImplemented" {
		t.Fatalf("commit of several files with an older member: %v, want 501 NotImplemented", err)
	}
}
