package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/daemon/mlflowapi"
)

func mlflowReq(t *testing.T, srv *Server, method, p string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL()+mlflowapi.Prefix+p, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestMLflow_Artifacts(t *testing.T) {
	srv := newTestServer(t)
	root := "1/" + run1 + "/artifacts/"
	files := seedModel(t, run1)
	for name, b := range files {
		ct := "text/plain"
		if strings.HasSuffix(name, ".xgb") {
			ct = "application/octet-stream"
		}
		code, h, body := mlflowReq(t, srv, "PUT", "artifacts/"+root+"models_mlflow/"+name, b, map[string]string{"Content-Type": ct})
		if code != 200 || string(bytes.TrimSpace(body)) != "{}" || h.Get("Content-Type") != "application/json" {
			t.Fatalf("upload %s: %d %s", name, code, body)
		}
	}
	// Listing: immediate children by base name; file_size on files only.
	code, _, body := mlflowReq(t, srv, "GET", "artifacts?path="+strings.TrimSuffix(root, "/"), nil, nil)
	if code != 200 || string(bytes.TrimSpace(body)) != `{"files":[{"path":"models_mlflow","is_dir":true}]}` {
		t.Fatalf("list run root: %d %s", code, body)
	}
	var list struct {
		Files []struct {
			Path     string `json:"path"`
			IsDir    bool   `json:"is_dir"`
			FileSize *int64 `json:"file_size"`
		} `json:"files"`
	}
	_, _, body = mlflowReq(t, srv, "GET", "artifacts?path="+root+"models_mlflow", nil, nil)
	json.Unmarshal(body, &list)
	if len(list.Files) != 5 {
		t.Fatalf("list model folder: %s", body)
	}
	for _, f := range list.Files {
		if f.IsDir || f.FileSize == nil || *f.FileSize != int64(len(files[f.Path])) || strings.Contains(f.Path, "/") {
			t.Fatalf("entry %+v", f)
		}
	}
	for _, p := range []string{root + "models_mlflow/MLmodel", root + "nothing", "2/none"} {
		if code, _, body := mlflowReq(t, srv, "GET", "artifacts?path="+p, nil, nil); code != 200 || string(bytes.TrimSpace(body)) != "{}" {
			t.Fatalf("list %s (a file or missing) = %d %s, want {}", p, code, body)
		}
	}
	// Download.
	code, h, body := mlflowReq(t, srv, "GET", "artifacts/"+root+"models_mlflow/model.xgb", nil, nil)
	if code != 200 || !bytes.Equal(body, files["model.xgb"]) || h.Get("Content-Disposition") != "attachment; filename=model.xgb" ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Encoding") != "" {
		t.Fatalf("download: %d %v", code, h)
	}
	code, _, body = mlflowReq(t, srv, "GET", "artifacts/"+root+"missing.txt", nil, nil)
	var e map[string]string
	json.Unmarshal(body, &e)
	if code != 404 || e["error_code"] != "RESOURCE_DOES_NOT_EXIST" {
		t.Fatalf("missing file: %d %s", code, body)
	}
	// The run resolves whichever surface wrote it.
	var models []map[string]any
	call(t, http.MethodGet, srv.URL()+"/v1/models?run_id="+run1, nil, &models)
	if len(models) != 1 || models[0]["bucket"] != "mlflow" {
		t.Fatalf("models of the run: %v", models)
	}
	// Deleting a folder deletes what is under it.
	if code, _, _ := mlflowReq(t, srv, "DELETE", "artifacts/"+root+"models_mlflow", nil, nil); code != 200 {
		t.Fatalf("delete folder: %d", code)
	}
	if _, _, body := mlflowReq(t, srv, "GET", "artifacts?path="+root+"models_mlflow", nil, nil); string(bytes.TrimSpace(body)) != "{}" {
		t.Fatalf("folder after delete: %s", body)
	}
}

func TestMLflow_Auth(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.MLflowUsername, c.MLflowPassword, c.Token, c.Anonymous = "ml", "flow", "tok", "" })
	if code, _, _ := mlflowReq(t, srv, "GET", "artifacts?path=x", nil, nil); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	req, _ := http.NewRequest("GET", srv.URL()+mlflowapi.Prefix+"artifacts?path=x", nil)
	req.SetBasicAuth("ml", "wrong")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	req.SetBasicAuth("ml", "flow")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 200 {
		t.Fatalf("basic auth: %d", resp.StatusCode)
	}
	if code, _, _ := mlflowReq(t, srv, "GET", "artifacts?path=x", nil, map[string]string{"Authorization": "Bearer tok"}); code != 200 {
		t.Fatalf("bearer: %d", code)
	}
}

// TestMLflow_PythonClientShapes replays what MLflow's HttpArtifactRepository
// sends, with python3-requests as MLflow uses it: uploads one file at a
// time in os.walk order with MLflow's headers, lists before every
// download, downloads in a thread pool, and a multipart create that must
// make the client fall back to a plain PUT.
func TestMLflow_PythonClientShapes(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import requests").Run(); err != nil {
		t.Skip("needs python3-requests (apt-get install python3-requests)")
	}
	srv := newTestServer(t)
	src := t.TempDir()
	for name, b := range seedModel(t, run2) {
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	// A 12 MiB file goes up in three parts through the part URLs.
	big := bytes.Repeat(seedModel(t, run2)["model.xgb"], 4)[:12<<20]
	os.WriteFile(filepath.Join(src, "booster.big"), big, 0o644)
	dst := t.TempDir()
	cmd := exec.Command(py, "testdata/mlflow_replay.py", srv.URL(), "2/"+run2+"/artifacts", src, dst)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	want := seedModel(t, run2)
	want["booster.big"] = big
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dst, "models_mlflow", name))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("downloaded %s differs: %v", name, err)
		}
	}
	var st struct{ Uploads int64 }
	call(t, http.MethodGet, srv.URL()+"/v1/stats", nil, &st)
	if st.Uploads != 0 {
		t.Fatalf("%d uploads left after complete and abort", st.Uploads)
	}
	t.Logf("%s", out)
}

// mlflowUpload is MLflow's answer to creating a multipart upload.
type mlflowUpload struct {
	UploadID    string `json:"upload_id"`
	Credentials []struct {
		URL        string `json:"url"`
		PartNumber int    `json:"part_number"`
	} `json:"credentials"`
}

// mlflowCreateUpload creates a multipart upload of parts parts under dir
// through MLflow's API.
func mlflowCreateUpload(t *testing.T, srv *Server, dir string, parts int) mlflowUpload {
	t.Helper()
	code, _, body := mlflowReq(t, srv, "POST", "mpu/create/"+dir, fmt.Appendf(nil, `{"path":"/tmp/x/f","num_parts":%d}`, parts), nil)
	var created mlflowUpload
	if err := json.Unmarshal(body, &created); code != 200 || err != nil || created.UploadID == "" || len(created.Credentials) != parts {
		t.Fatalf("create upload under %s: %d %s", dir, code, body)
	}
	return created
}

func TestMLflow_PartURLs(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	srv := newTestServer(t, func(c *Config) { c.Now = clock.Now })
	created := mlflowCreateUpload(t, srv, "1/"+run1+"/artifacts/model", 2)
	put := func(u string) int {
		req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("part bytes"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	u := created.Credentials[0].URL
	if code := put(strings.Replace(u, "part_number=1", "part_number=2", 1)); code != 403 {
		t.Fatalf("part URL with another part number: %d", code)
	}
	tampered := u[:len(u)-1] + "0"
	if strings.HasSuffix(u, "0") {
		tampered = u[:len(u)-1] + "1"
	}
	if code := put(tampered); code != 403 {
		t.Fatalf("tampered signature: %d", code)
	}
	if code := put(u); code != 200 {
		t.Fatalf("valid part URL: %d", code)
	}
	clock.Advance(mlflowapi.PartURLLifetime + time.Minute)
	if code := put(created.Credentials[1].URL); code != 403 {
		t.Fatalf("expired part URL: %d", code)
	}
	if _, parts, _ := srv.Node().State().Upload(created.UploadID); len(parts) != 1 {
		t.Fatalf("parts stored: %d, want only the valid one", len(parts))
	}
}
