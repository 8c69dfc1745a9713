//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// key is an access key the CLI created.
type key struct {
	ID, Secret, Role string
}

// createKey makes an access key with the real CLI, as the seeded admin.
func createKey(t *testing.T, n *Node, role string) key {
	t.Helper()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "CAIRN_ENDPOINT=" + n.URL(), "CAIRN_TOKEN=" + accessKey + ":" + secretKey}
	out := Run(t, env, os.Getenv("CAIRN_BIN"), "key", "create", "--role", role, "--name", "e2e "+role, "--json")
	var k key
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.ID == "" || k.Secret == "" || k.Role != role {
		t.Fatalf("cairn key create: %q, %v", out, err)
	}
	return k
}

// TestKeys_MLflow has MLflow's two artifact repositories use the cluster's
// access keys: the proxied one (mlflow-artifacts://, HTTP Basic as
// MLFLOW_TRACKING_USERNAME and _PASSWORD send it) and the S3 one (boto3
// signing with the key). A write key logs and loads; a read key loads what
// it logged but cannot log; no key gets nothing.
func TestKeys_MLflow(t *testing.T) {
	n := StartNode(t)
	write, read := createKey(t, n, "write"), createKey(t, n, "read")
	const run = "0123456789abcdef0123456789abcd01"
	src := modelDir(t, run)
	if err := os.Rename(bigFile(t), filepath.Join(src, "booster.big")); err != nil {
		t.Fatal(err)
	}
	replay := func(k *key, mode, prefix string) (string, error) {
		env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "REPLAY_MODE=" + mode}
		if k != nil {
			env = append(env, "MLFLOW_TRACKING_USERNAME="+k.ID, "MLFLOW_TRACKING_PASSWORD="+k.Secret)
		}
		script, _ := filepath.Abs("../testdata/mlflow_replay.py")
		return RunErr(t, env, "/usr/bin/python3", script, n.URL(), prefix, src, t.TempDir())
	}
	prefix := "3/" + run + "/artifacts"
	if out, err := replay(&write, "both", prefix); err != nil {
		t.Fatalf("log and load with a write key: %v\n%s", err, out)
	}
	if out, err := replay(&read, "load", prefix); err != nil {
		t.Fatalf("load with a read key: %v\n%s", err, out)
	}
	if out, err := replay(&read, "refused", "3/"+run+"/other"); err != nil {
		t.Fatalf("log with a read key must be refused: %v\n%s", err, out)
	}
	if out, err := replay(nil, "load", prefix); err == nil || !strings.Contains(out, "401") {
		t.Fatalf("load without a key: %v\n%s", err, out)
	}

	// MLflow's S3 artifact repository: boto3 with the key's id and secret.
	s3env := func(k key) []string {
		return append(n.ClientEnv(t), "AWS_ACCESS_KEY_ID="+k.ID, "AWS_SECRET_ACCESS_KEY="+k.Secret)
	}
	model := filepath.Join(src, "model.xgb")
	Run(t, s3env(write), "/usr/bin/python3", testdata(t, "boto3_flow.py"), n.URL(), "mlflow-s3", "4/"+run+"/artifacts/", t.TempDir(), model)
	out := Run(t, s3env(read), "/usr/bin/python3", "-c", `
import sys, boto3
from botocore.config import Config
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=sys.argv[1], config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
s3.download_file("mlflow-s3", "4/`+run+`/artifacts/model.xgb", sys.argv[2])
try:
    s3.put_object(Bucket="mlflow-s3", Key="4/`+run+`/artifacts/again.xgb", Body=open(sys.argv[2], "rb").read())
    print("uploaded")
except ClientError as e:
    print(e.response["Error"]["Code"])
`, n.URL(), filepath.Join(t.TempDir(), "model.xgb"))
	if strings.TrimSpace(out) != "AccessDenied" {
		t.Fatalf("a read key uploading through S3: %q", out)
	}
	if got := n.Digest("mlflow-s3", "4/"+run+"/artifacts/model.xgb"); got != B3(t, model) {
		t.Fatalf("the S3 upload stored %s", got)
	}
}
