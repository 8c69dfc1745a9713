//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRclone copies a model folder with rclone and checks it with
// `rclone check`, which compares sizes and MD5s (the ETags), then copies
// again and sees nothing transferred.
func TestRclone(t *testing.T) {
	n := StartNode(t)
	env := n.ClientEnv(t)
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	writeFile(t, conf, "[cairn]\ntype = s3\nprovider = Other\nenv_auth = false\naccess_key_id = "+accessKey+
		"\nsecret_access_key = "+secretKey+"\nendpoint = "+n.URL()+"\nregion = "+region+"\nforce_path_style = true\n")
	rclone := func(args ...string) string {
		t.Helper()
		return Run(t, env, "/usr/bin/rclone", append([]string{"--config", conf, "--retries", "1", "--low-level-retries", "1"}, args...)...)
	}
	const run = "1111222233334444aaaabbbbccccdddd"
	dir := modelDir(t, run)
	writeFile(t, filepath.Join(dir, "data", "boosters.json"), string(readFile(t, bigFile(t))))
	dst := "cairn:rclone/9/" + run + "/artifacts/model"
	rclone("mkdir", "cairn:rclone")
	rclone("copy", dir, dst)
	rclone("check", dir, dst)
	before := n.Stats()
	out := rclone("copy", "-v", dir, dst)
	if strings.Contains(out, "Copied") {
		t.Fatalf("second copy transferred files:\n%s", out)
	}
	// Stored bytes may shrink meanwhile (the compactor); what the
	// namespace holds must not move, nor the store grow.
	if after := n.Stats(); after.UniqueBytes != before.UniqueBytes || after.LogicalBytes != before.LogicalBytes ||
		after.StoredBytes > before.StoredBytes {
		t.Fatalf("second copy changed the store: %+v -> %+v", before, after)
	}
	for _, name := range []string{"model.xgb", "trained.ubj", "data/boosters.json"} {
		if n.Digest("rclone", "9/"+run+"/artifacts/model/"+name) != B3(t, filepath.Join(dir, name)) {
			t.Fatalf("%s: stored digest differs", name)
		}
	}
	if files := rclone("lsf", "-R", dst); strings.Count(files, "\n") != 9 {
		t.Fatalf("rclone lsf:\n%s", files)
	}
	// A changed file makes check fail.
	writeFile(t, filepath.Join(dir, "conda.yaml"), "changed\n")
	if out, err := RunErr(t, env, "/usr/bin/rclone", "--config", conf, "check", dir, dst); err == nil {
		t.Fatalf("rclone check passed on a changed file:\n%s", out)
	}
}

// TestS3cmd puts, lists and gets with s3cmd, over and under its
// multipart chunk size.
func TestS3cmd(t *testing.T) {
	n := StartNode(t)
	env := n.ClientEnv(t)
	host := strings.TrimPrefix(n.URL(), "http://")
	conf := filepath.Join(t.TempDir(), "s3cfg")
	writeFile(t, conf, "[default]\naccess_key = "+accessKey+"\nsecret_key = "+secretKey+"\nhost_base = "+host+
		"\nhost_bucket = "+host+"\nuse_https = False\nsignature_v2 = False\nbucket_location = "+region+
		"\ncheck_ssl_certificate = False\nmultipart_chunk_size_mb = 5\n")
	s3cmd := func(args ...string) string {
		t.Helper()
		return Run(t, env, "/usr/bin/s3cmd", append([]string{"-c", conf, "--no-progress"}, args...)...)
	}
	s3cmd("mb", "s3://s3cmd")
	small := sharedFile(t, "boosters", "m", "model.xgb")
	big := bigFile(t)
	s3cmd("put", small, "s3://s3cmd/models/model.xgb")
	s3cmd("put", big, "s3://s3cmd/models/big boosters.json")
	ls := s3cmd("ls", "s3://s3cmd/models/")
	if !strings.Contains(ls, "s3://s3cmd/models/model.xgb") || !strings.Contains(ls, "s3://s3cmd/models/big boosters.json") {
		t.Fatalf("s3cmd ls:\n%s", ls)
	}
	if top := s3cmd("ls", "s3://s3cmd/"); !strings.Contains(top, "DIR") || !strings.Contains(top, "s3://s3cmd/models/") {
		t.Fatalf("s3cmd ls of the bucket:\n%s", top)
	}
	for key, src := range map[string]string{"models/model.xgb": small, "models/big boosters.json": big} {
		dst := filepath.Join(t.TempDir(), "got")
		s3cmd("get", "s3://s3cmd/"+key, dst)
		if B3(t, dst) != B3(t, src) || n.Digest("s3cmd", key) != B3(t, src) {
			t.Fatalf("%s: content differs", key)
		}
	}
	if info := s3cmd("info", "s3://s3cmd/models/model.xgb"); !strings.Contains(info, "MD5 sum") {
		t.Fatalf("s3cmd info:\n%s", info)
	}
	s3cmd("del", "s3://s3cmd/models/model.xgb")
	if ls := s3cmd("ls", "s3://s3cmd/models/"); strings.Contains(ls, "model.xgb") {
		t.Fatalf("deleted object still listed:\n%s", ls)
	}
}
