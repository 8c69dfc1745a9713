package daemon

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"cairn/daemon/mlflowapi"
)

// TestAPI_ErrorAnswerReachesSender sends large bodies that the node
// refuses before reading them (a bucket that does not exist, wrong MLflow
// credentials): the client must read the error answer, not a connection
// reset while it is still sending.
func TestAPI_ErrorAnswerReachesSender(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.MLflowUsername, c.MLflowPassword = "mlflow", "secret" })
	body := content("refused", 16<<20)
	for i := range 3 {
		for _, u := range []string{objURL(srv, "nobucket", "big"), srv.URL() + mlflowapi.Prefix + "artifacts/1/x/artifacts/big"} {
			req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
			req.SetBasicAuth("mlflow", "wrong")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("try %d, %s: %v", i, u, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || err != nil || !json.Valid(b) {
				t.Fatalf("try %d, %s: %d %v %q", i, u, resp.StatusCode, err, b)
			}
		}
	}
}
