//go:build e2e

package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBoto3 drives the node with Debian's boto3 1.26 configured as
// MLflow's S3 artifact repository configures it: upload_file under and
// over the 8 MiB multipart threshold, head_object, download_file with
// ranged parallel GETs, and the ListObjectsV2 paginator with
// Delimiter='/' and encoding-type=url.
func TestBoto3(t *testing.T) {
	n := StartNode(t)
	env := n.ClientEnv(t)
	const run = "abcdefabcdefabcdefabcdefabcdef01"
	dir := modelDir(t, run)
	big := bigFile(t)
	files := []string{filepath.Join(dir, "MLmodel"), filepath.Join(dir, "model.xgb"), filepath.Join(dir, "trained.json"),
		filepath.Join(dir, "requirements.txt"), big}
	prefix := "5/" + run + "/artifacts/model with space+plus/"
	out := Run(t, env, "/usr/bin/python3", append([]string{testdata(t, "boto3_flow.py"), n.URL(), "boto3", prefix, t.TempDir()}, files...)...)
	var res struct {
		Objects map[string]struct {
			ETag       string
			Size       int64
			Blake3     string
			Downloaded string
		}
		RangedGets int `json:"ranged_gets"`
		Listing    struct {
			Root     string
			Keys     []string
			Prefixes []string
		}
		Missing string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	for _, f := range files {
		key := prefix + filepath.Base(f)
		o, ok := res.Objects[key]
		want := B3(t, f)
		if !ok || o.Blake3 != want || B3(t, o.Downloaded) != want || n.Digest("boto3", key) != want {
			t.Fatalf("%s: %+v, want digest %s", key, o, want)
		}
		if multipart := strings.HasSuffix(o.ETag, `-2"`); multipart != (f == big) {
			t.Fatalf("%s: ETag %s; only the file over 8 MiB goes multipart", key, o.ETag)
		}
	}
	if res.RangedGets < 2 {
		t.Fatalf("download_file sent %d ranged GETs for the file over 8 MiB", res.RangedGets)
	}
	if res.Listing.Root != "5/"+run+"/artifacts/" || len(res.Listing.Keys) != 0 || !slices.Equal(res.Listing.Prefixes, []string{prefix}) {
		t.Fatalf("paginated listing %+v", res.Listing)
	}
	if res.Missing != "404" {
		t.Fatalf("head of a missing key: %q", res.Missing)
	}
}
