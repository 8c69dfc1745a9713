package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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

// TestChunks_Fetch: POST /v1/chunks/fetch answers the chunks asked for, in
// order and raw, in an answer whose Content-Length is its length; past
// cluster.BatchBytes it stops and says where (Cairn-Truncated), and the
// rest comes on the next request.
func TestChunks_Fetch(t *testing.T) {
	srv := newTestServer(t)
	var ds []chunk.Digest
	want := map[chunk.Digest][]byte{}
	for i := range 24 { // 12 MiB of the largest chunks: an answer stops once past 8 MiB
		c := content(fmt.Sprint("fetch-", i), chunk.DefaultMaxSize)
		d := chunk.Sum(c)
		ds, want[d] = append(ds, d), c
		body := chunk.AppendBatch(nil, d, append([]byte{chunk.RawForm}, c...))
		resp, err := http.Post(srv.URL()+"/v1/chunks", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("put chunk %d: %d", i, resp.StatusCode)
		}
	}
	fetch := func(ds []chunk.Digest) (got []chunk.Digest, truncated string) {
		t.Helper()
		body, header := postFetch(t, srv.URL(), ds, "")
		err := chunk.ReadBatch(bytes.NewReader(body), chunk.DefaultMaxSize+1, func(d chunk.Digest, v []byte) error {
			if v[0] != chunk.RawForm || !bytes.Equal(v[1:], want[d]) {
				return fmt.Errorf("chunk %s: form %d, %d bytes", d.Short(), v[0], len(v)-1)
			}
			got = append(got, d)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, header.Get(client.HeaderTruncated)
	}
	first, truncated := fetch(ds)
	// 16 entries of 512 KiB and their headers are the first past 8 MiB.
	if truncated != "16" || !slices.Equal(first, ds[:16]) {
		t.Fatalf("first answer: %d chunks, truncated at %q; want 16, truncated at 16", len(first), truncated)
	}
	rest, truncated := fetch(ds[16:])
	if truncated != "" || !slices.Equal(rest, ds[16:]) {
		t.Fatalf("second answer: %d chunks, truncated at %q; want the 8 left", len(rest), truncated)
	}
}

// postFetch asks base's POST /v1/chunks/fetch for ds, with accept as its
// Cairn-Accept-Forms header when not empty, and returns the answer,
// which must be a 200 whose Content-Length is its length.
func postFetch(t *testing.T, base string, ds []chunk.Digest, accept string) ([]byte, http.Header) {
	t.Helper()
	b, _ := json.Marshal(client.MissingRequest{Digests: ds})
	req, _ := http.NewRequest("POST", base+"/v1/chunks/fetch", bytes.NewReader(b))
	if accept != "" {
		req.Header.Set(client.HeaderAcceptForms, accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) {
		t.Fatalf("fetch: %d, Content-Length %d of a %d-byte body, %v", resp.StatusCode, resp.ContentLength, len(body), err)
	}
	return body, resp.Header
}

// TestChunks_FetchStoredForms: a client that names S2 in
// Cairn-Accept-Forms gets the chunks stored in S2 as stored (fewer bytes,
// decoding to the chunk) and the others raw; a client that names nothing
// gets every chunk raw; a chunk the compactor put in a shared frame comes
// raw, decoded and verified by the node.
func TestChunks_FetchStoredForms(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.CAS.NoCompactor = true })
	var ds []chunk.Digest
	want := map[chunk.Digest][]byte{}
	var batch []byte
	booster, err := os.ReadFile(clientBooster(t, "model", "json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 { // sent as the Go client sends them: S2 where it pays
		c := booster[i*(128<<10) : (i+1)*(128<<10)]
		form := append([]byte{2}, s2.Encode(nil, c)...)
		if i%3 == 2 {
			c = content(fmt.Sprint("noise-", i), 64<<10)
			form = append([]byte{chunk.RawForm}, c...)
		}
		d := chunk.Sum(c)
		ds, want[d] = append(ds, d), c
		batch = chunk.AppendBatch(batch, d, form)
	}
	resp, err := http.Post(srv.URL()+"/v1/chunks", "application/octet-stream", bytes.NewReader(batch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("put chunks: %d", resp.StatusCode)
	}
	// fetch returns the form of each chunk, checking that it decodes to it.
	fetch := func(accept string) (forms []byte, size int) {
		t.Helper()
		body, _ := postFetch(t, srv.URL(), ds, accept)
		var got []chunk.Digest
		err := chunk.ReadBatch(bytes.NewReader(body), chunk.DefaultMaxSize+1, func(d chunk.Digest, v []byte) error {
			p := v[1:]
			switch v[0] {
			case chunk.RawForm:
			case 2:
				if p, err = s2.Decode(nil, p); err != nil {
					return err
				}
			default:
				return fmt.Errorf("chunk %s in form %d", d.Short(), v[0])
			}
			if !bytes.Equal(p, want[d]) {
				return fmt.Errorf("chunk %s (form %d) decodes to other bytes", d.Short(), v[0])
			}
			got, forms = append(got, d), append(forms, v[0])
			return nil
		})
		if err != nil || !slices.Equal(got, ds) {
			t.Fatalf("fetch: %d of %d chunks in order, %v", len(got), len(ds), err)
		}
		return forms, len(body)
	}
	rawForms, rawSize := fetch("")
	if !slices.Equal(rawForms, []byte{0, 0, 0, 0, 0, 0}) {
		t.Fatalf("forms without the header: %v, want all raw", rawForms)
	}
	for _, accept := range []string{"2", "0, 2, 99", "x,2"} {
		forms, size := fetch(accept)
		if !slices.Equal(forms, []byte{2, 2, 0, 2, 2, 0}) || size > rawSize*3/4 {
			t.Fatalf("forms accepting %q: %v in %d bytes (raw: %d), want S2 but for the noise, in under 3/4", accept, forms, size, rawSize)
		}
	}
	if forms, _ := fetch("1"); !slices.Equal(forms, rawForms) {
		t.Fatalf("forms accepting zstd only: %v, want all raw", forms)
	}
	res, err := srv.Store().Compact(t.Context())
	if err != nil || res.Chunks == 0 {
		t.Fatalf("compact: %+v, %v", res, err)
	}
	if forms, _ := fetch("2"); !slices.Contains(forms, 0) || slices.Equal(forms, []byte{2, 2, 0, 2, 2, 0}) {
		t.Fatalf("forms after compaction: %v, want the chunks of shared frames raw", forms)
	}
}

// TestClient_StoredFormFallback serves the client through a proxy that
// flips a byte of every chunk a fetch answers in a stored form, and of
// none it answers raw: the client asks again for the rest raw, and the
// download is whole and right.
func TestClient_StoredFormFallback(t *testing.T) {
	srv := newClientTestServer(t)
	c, _ := newCountingClient(t, srv.URL())
	data, err := os.ReadFile(clientBooster(t, "model", "json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(t.Context(), "test", "m.json", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var stored, raw atomic.Int64
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/v1/chunks/fetch" {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var out []byte
		err = chunk.ReadBatch(bytes.NewReader(b), 1<<24, func(d chunk.Digest, v []byte) error {
			if v[0] == chunk.RawForm {
				raw.Add(1)
			} else {
				stored.Add(1)
				v[len(v)/2] ^= 0x40
			}
			out = chunk.AppendBatch(out, d, v)
			return nil
		})
		resp.Body = io.NopCloser(bytes.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
		return err
	}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	pc, _ := newCountingClient(t, ps.URL)
	got, err := pc.GetRange(t.Context(), "test", "m.json", 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download through the proxy: %d bytes, %v; want the %d of the booster", len(got), err, len(data))
	}
	if stored.Load() == 0 || raw.Load() == 0 {
		t.Fatalf("the proxy saw %d chunks as stored and %d raw, want both", stored.Load(), raw.Load())
	}
}
