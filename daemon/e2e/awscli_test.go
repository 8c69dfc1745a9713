//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// awsCLI is /usr/bin/aws (Debian's awscli 2.9, not a pyenv shim) talking
// to the node only.
type awsCLI struct {
	t   *testing.T
	n   *Node
	env []string
}

func (a awsCLI) run(args ...string) string {
	a.t.Helper()
	return Run(a.t, a.env, "/usr/bin/aws", append([]string{"--endpoint-url", a.n.URL(), "--no-cli-pager"}, args...)...)
}

func (a awsCLI) json(v any, args ...string) {
	a.t.Helper()
	out := a.run(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		a.t.Fatalf("aws %s: decode %q: %v", strings.Join(args, " "), out, err)
	}
}

// TestAWSCLI drives awscli's s3 and s3api commands: cp both ways over
// the multipart threshold, sync twice (the second uploads nothing and
// stores nothing), and the low-level object and multipart calls.
func TestAWSCLI(t *testing.T) {
	n := StartNode(t)
	aws := awsCLI{t: t, n: n, env: n.ClientEnv(t)}
	aws.run("s3", "mb", "s3://awscli")

	t.Run("CopyMultipart", func(t *testing.T) {
		big := bigFile(t)
		aws.run("s3", "cp", "--no-progress", big, "s3://awscli/big/boosters.json")
		if got, want := n.Digest("awscli", "big/boosters.json"), B3(t, big); got != want {
			t.Fatalf("stored digest %s, b3sum %s", got, want)
		}
		dl := filepath.Join(t.TempDir(), "down.json")
		aws.run("s3", "cp", "--no-progress", "s3://awscli/big/boosters.json", dl)
		if B3(t, dl) != B3(t, big) {
			t.Fatal("downloaded file differs")
		}
	})
	t.Run("SyncTwice", func(t *testing.T) {
		const run = "0123456789abcdef0123456789abcdef"
		dir := modelDir(t, run)
		dst := "s3://awscli/3/" + run + "/artifacts/model/"
		first := aws.run("s3", "sync", "--no-progress", dir, dst)
		if got := strings.Count(first, "upload:"); got != 7 {
			t.Fatalf("first sync uploaded %d files, want 7:\n%s", got, first)
		}
		before := n.Stats()
		second := aws.run("s3", "sync", "--no-progress", dir, dst)
		if strings.Contains(second, "upload:") {
			t.Fatalf("second sync uploaded again:\n%s", second)
		}
		// Stored bytes may shrink meanwhile (the compactor re-encodes what
		// the first sync wrote); what the namespace holds must not move.
		if after := n.Stats(); after.UniqueBytes != before.UniqueBytes || after.LogicalBytes != before.LogicalBytes ||
			after.Objects != before.Objects || after.StoredBytes > before.StoredBytes {
			t.Fatalf("second sync changed the store: %+v -> %+v", before, after)
		}
		for _, name := range []string{"model.xgb", "trained.json", "MLmodel"} {
			if n.Digest("awscli", "3/"+run+"/artifacts/model/"+name) != B3(t, filepath.Join(dir, name)) {
				t.Fatalf("%s: stored digest differs", name)
			}
		}
	})
	t.Run("S3API", func(t *testing.T) {
		body := sharedFile(t, "boosters", "m", "model.ubj")
		var put struct{ ETag string }
		aws.json(&put, "s3api", "put-object", "--bucket", "awscli", "--key", "api/model.ubj", "--body", body, "--content-type", "application/ubjson")
		var head struct {
			ETag          string
			ContentLength int64
			ContentType   string
		}
		aws.json(&head, "s3api", "head-object", "--bucket", "awscli", "--key", "api/model.ubj")
		st, _ := os.Stat(body)
		if head.ETag != put.ETag || head.ContentLength != st.Size() || head.ContentType != "application/ubjson" {
			t.Fatalf("head %+v after put %+v", head, put)
		}
		var list struct {
			Contents       []struct{ Key string }
			CommonPrefixes []struct{ Prefix string }
		}
		aws.json(&list, "s3api", "list-objects-v2", "--bucket", "awscli", "--delimiter", "/")
		var prefixes []string
		for _, p := range list.CommonPrefixes {
			prefixes = append(prefixes, p.Prefix)
		}
		if strings.Join(prefixes, " ") != "3/ api/ big/" || len(list.Contents) != 0 {
			t.Fatalf("listing %+v", list)
		}

		var up struct{ UploadId string }
		aws.json(&up, "s3api", "create-multipart-upload", "--bucket", "awscli", "--key", "api/parts.json")
		dir := t.TempDir()
		whole := readFile(t, bigFile(t))
		parts := []string{filepath.Join(dir, "p1"), filepath.Join(dir, "p2")}
		writeFile(t, parts[0], string(whole[:5<<20]))
		writeFile(t, parts[1], string(whole[5<<20:]))
		type part struct {
			ETag       string
			PartNumber int
		}
		var done struct{ Parts []part }
		for i, p := range parts {
			var out struct{ ETag string }
			aws.json(&out, "s3api", "upload-part", "--bucket", "awscli", "--key", "api/parts.json", "--upload-id", up.UploadId,
				"--part-number", string(rune('1'+i)), "--body", p)
			done.Parts = append(done.Parts, part{ETag: out.ETag, PartNumber: i + 1})
		}
		b, _ := json.Marshal(done)
		spec := filepath.Join(dir, "parts.json")
		writeFile(t, spec, string(b))
		var complete struct{ ETag string }
		aws.json(&complete, "s3api", "complete-multipart-upload", "--bucket", "awscli", "--key", "api/parts.json",
			"--upload-id", up.UploadId, "--multipart-upload", "file://"+spec)
		if !strings.HasSuffix(complete.ETag, `-2"`) {
			t.Fatalf("complete ETag %s", complete.ETag)
		}
		writeFile(t, filepath.Join(dir, "whole"), string(whole))
		if n.Digest("awscli", "api/parts.json") != B3(t, filepath.Join(dir, "whole")) {
			t.Fatal("completed object's digest is not b3sum of its content")
		}
	})
}
