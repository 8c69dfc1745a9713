package daemon

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"cairn/cas/chunk"
	"cairn/client"
)

// TestChunks_Batch: POST /v1/chunks stores a batch of chunks, raw or in
// a stored form, checking each against its digest; a batch with one bad
// chunk, a malformed one or one too large stores nothing.
func TestChunks_Batch(t *testing.T) {
	srv := newTestServer(t)
	post := func(body []byte) (int, client.Error, client.ChunkBatchResult) {
		t.Helper()
		resp, err := http.Post(srv.URL()+"/v1/chunks", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e client.Error
		var res client.ChunkBatchResult
		if resp.StatusCode == http.StatusOK {
			json.Unmarshal(b, &res)
		} else {
			json.Unmarshal(b, &e)
		}
		return resp.StatusCode, e, res
	}
	missing := func(ds ...chunk.Digest) int {
		t.Helper()
		b, _ := json.Marshal(client.MissingRequest{Digests: ds})
		resp, err := http.Post(srv.URL()+"/v1/chunks/missing", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res client.MissingResult
		json.NewDecoder(resp.Body).Decode(&res)
		return len(res.Missing)
	}
	raw := func(p []byte) []byte { return append([]byte{chunk.RawForm}, p...) }
	a := []byte(strings.Repeat("the first chunk, raw. ", 500))
	b := []byte(strings.Repeat(`{"split": 3, "leaf": -0.25}, `, 800))
	bS2 := append([]byte{2}, s2.Encode(nil, b)...) // the chunk store's S2 form
	da, db := chunk.Sum(a), chunk.Sum(b)

	// One bad chunk: nothing of the batch is kept.
	bad := chunk.AppendBatch(chunk.AppendBatch(nil, da, raw(a)), db, raw(a))
	if code, e, _ := post(bad); code != 400 || e.Code != "BadDigest" {
		t.Fatalf("a batch with a wrong chunk: %d %+v, want 400 BadDigest", code, e)
	}
	trunc := chunk.AppendBatch(nil, da, raw(a))
	if code, e, _ := post(trunc[:len(trunc)-10]); code != 400 || e.Code != "InvalidRequest" {
		t.Fatalf("a truncated batch: %d %+v, want 400 InvalidRequest", code, e)
	}
	huge := chunk.AppendBatchHeader(nil, da, 64<<20)
	if code, e, _ := post(huge); code != 400 || e.Code != "InvalidRequest" {
		t.Fatalf("a chunk above the largest: %d %+v, want 400 InvalidRequest", code, e)
	}
	if n := missing(da, db); n != 2 {
		t.Fatalf("%d of 2 chunks missing after the refused batches, want 2", n)
	}

	good := chunk.AppendBatch(chunk.AppendBatch(nil, da, raw(a)), db, bS2)
	code, e, res := post(good)
	if code != 200 || res.Added != 2 {
		t.Fatalf("a good batch: %d %+v %+v, want 2 added", code, e, res)
	}
	if n := missing(da, db); n != 0 {
		t.Fatalf("%d chunks missing after the batch", n)
	}
	if _, _, res := post(good); res.Added != 0 {
		t.Fatalf("the same batch again added %d", res.Added)
	}
	for d, want := range map[chunk.Digest][]byte{da: a, db: b} {
		resp, err := http.Get(srv.URL() + "/v1/chunks/" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, want) {
			t.Fatalf("chunk %s reads %d other bytes", d.Short(), len(got))
		}
	}

	// A body above the largest batch is refused before it is read.
	req, _ := http.NewRequest("POST", srv.URL()+"/v1/chunks", io.LimitReader(zeros{}, 40<<20))
	req.ContentLength = 40 << 20
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("a 40 MiB batch: %d, want 400", resp.StatusCode)
	}
}
