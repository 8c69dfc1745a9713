package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"cairn/client/cli"
	"cairn/client/s3client"
)

// failingSource fails every GET of an object from host after the first
// n, as a network cut in the middle of an import would.
type failingSource struct {
	host string
	n    atomic.Int64
}

func (f *failingSource) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == f.host && r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && f.n.Add(-1) < 0 {
		return nil, errors.New("network cut")
	}
	return http.DefaultTransport.RoundTrip(r)
}

type importOut struct {
	Objects      int   `json:"objects"`
	Imported     int   `json:"imported"`
	Skipped      int   `json:"skipped"`
	Failed       int   `json:"failed"`
	LogicalBytes int64 `json:"logical_bytes"`
	StoredBytes  int64 `json:"stored_bytes"`
}

// TestImport_Resume imports an MLflow artifact root from a cairn node
// speaking S3 into another, cut off after a few objects, then runs it
// again: the second run skips what the first copied, copies the rest, and
// the summaries show the duplicates cost no stored bytes.
func TestImport_Resume(t *testing.T) {
	src := newTestServer(t)
	dst := newTestServer(t)
	k := s3Creds(t, src)
	sc, err := s3client.New(s3client.Config{Endpoint: src.URL(), AccessKey: k.AccessKey, SecretKey: k.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := sc.CreateBucket(ctx, "mlflow"); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	booster := s3Payload(900, 5<<20) // over the in-memory spool: goes through a file
	for i := range 8 {
		run := fmt.Sprintf("artifacts/1/%032x/artifacts/", i)
		want[run+"model/model.xgb"] = booster // every run logs the same booster
		want[run+"model/MLmodel"] = fmt.Appendf(nil, "artifact_path: model\nrun_id: %032x\nflavors: {}\n", i)
		want[run+"plot.bin"] = s3Payload(uint64(910+i), 100<<10)
	}
	want["elsewhere/not-imported"] = []byte("outside the prefix")
	for key, b := range want {
		if err := sc.PutObject(ctx, "mlflow", key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	var logical int64
	for key, b := range want {
		if strings.HasPrefix(key, "artifacts/") {
			logical += int64(len(b))
		}
	}
	env := map[string]string{"CAIRN_ENDPOINT": dst.URL(), "CAIRN_IMPORT_ENDPOINT": src.URL(),
		"CAIRN_IMPORT_ACCESS_KEY": k.AccessKey, "CAIRN_IMPORT_SECRET_KEY": k.SecretKey}
	run := func(hc *http.Client) (importOut, int) {
		var out, errb bytes.Buffer
		err := cli.Run(ctx, []string{"import", "s3://mlflow/artifacts/", "-j", "2", "--json"}, cli.Env{Stdout: &out, Stderr: &errb,
			Getenv: func(k string) string { return env[k] }, HTTPClient: hc})
		code := 0
		var ce *cli.Error
		if errors.As(err, &ce) {
			code = ce.ExitCode()
		}
		if strings.Contains(out.String()+errb.String(), k.SecretKey) {
			t.Fatal("import printed the secret key")
		}
		return decodeFirst[importOut](t, out.String()), code
	}

	cut := &failingSource{host: strings.TrimPrefix(src.URL(), "http://")}
	cut.n.Store(9)
	first, code := run(&http.Client{Transport: cut})
	if code != 1 || first.Imported != 9 || first.Failed != 24-9 || first.Objects != 24 {
		t.Fatalf("import cut after 9 objects: exit %d, %+v", code, first)
	}
	second, code := run(nil)
	if code != 0 || second.Skipped != first.Imported || second.Imported != 24-first.Imported || second.Failed != 0 {
		t.Fatalf("import resumed: exit %d, %+v (first %+v)", code, second, first)
	}
	if got := first.LogicalBytes + second.LogicalBytes; got != logical {
		t.Fatalf("logical bytes imported: %d, want %d", got, logical)
	}
	// The booster is sent once, even by workers importing copies of it
	// at the same moment: what was sent is one booster and the small
	// files, far below the logical total.
	stored := first.StoredBytes + second.StoredBytes
	if stored >= int64(len(booster))*3/2 || stored < int64(len(booster)) {
		t.Fatalf("stored %d of %d logical bytes; want about one booster (%d) and the small files", stored, logical, len(booster))
	}
	t.Logf("imported %d logical bytes, %d newly stored", logical, stored)
	third, code := run(nil)
	if code != 0 || third.Imported != 0 || third.Skipped != 24 {
		t.Fatalf("third run: exit %d %+v, want everything skipped", code, third)
	}
	for key, b := range want {
		code, got := getConsistent(t, dst, "mlflow", key)
		if strings.HasPrefix(key, "elsewhere/") {
			if code != http.StatusNotFound {
				t.Fatalf("%s outside the prefix was imported: %d", key, code)
			}
			continue
		}
		if code != 200 || !bytes.Equal(got, b) {
			t.Fatalf("%s in cairn: %d, %d bytes, want %d", key, code, len(got), len(b))
		}
	}
	// A source object that changed is imported again.
	changed := []byte("retrained")
	key := "artifacts/1/00000000000000000000000000000003/artifacts/plot.bin"
	if err := sc.PutObject(ctx, "mlflow", key, bytes.NewReader(changed), int64(len(changed))); err != nil {
		t.Fatal(err)
	}
	if fourth, code := run(nil); code != 0 || fourth.Imported != 1 || fourth.Skipped != 23 {
		t.Fatalf("after a source object changed: exit %d %+v", code, fourth)
	}
	if _, got := getConsistent(t, dst, "mlflow", key); !bytes.Equal(got, changed) {
		t.Fatalf("the changed object reads %q", got)
	}
}
