package cluster

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cairn/cas"
)

// TestServer_FormsForNodesBeforeS2 covers a rolling upgrade: a node that
// asks for chunks without saying it reads S2 gets S2 chunks raw, the same
// bytes; a node that says so gets them as stored.
func TestServer_FormsForNodesBeforeS2(t *testing.T) {
	st, err := cas.Open(t.TempDir(), cas.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	body := bytes.Repeat([]byte(`{"tree": [4, 5, 6], "leaf": -0.5, "split": "f3"},`), 40000)
	res, err := st.Put(t.Context(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	d := res.Recipe[0].Digest
	if v, _ := st.GetStored(t.Context(), d, cas.ForPeer); cas.Codec(v[0]) != cas.CodecS2 {
		t.Fatalf("the chunk is stored as %v, not S2: the test would prove nothing", cas.Codec(v[0]))
	}
	want, _ := st.GetChunk(t.Context(), d)
	srv := &Server{Store: st}

	ask := func(method, path, payload string, s2 bool) []byte {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(payload))
		if s2 {
			req.Header.Set(headerCodecs, "2")
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		return rec.Body.Bytes()
	}
	check := func(form []byte, s2 bool) {
		t.Helper()
		codec := cas.Codec(form[0])
		switch {
		case s2 && codec != cas.CodecS2:
			t.Fatalf("a node that reads S2 got %v", codec)
		case !s2 && codec != cas.CodecRaw:
			t.Fatalf("a node before S2 got %v", codec)
		case !s2 && !bytes.Equal(form[1:], want):
			t.Fatal("the raw form holds other bytes than the chunk")
		}
	}
	for _, s2 := range []bool{false, true} {
		check(ask(http.MethodGet, "/peer/chunks/"+d.String(), "", s2), s2)
		b := ask(http.MethodPost, "/peer/fetch", `{"digests": ["`+d.String()+`"]}`, s2)
		cs, err := DecodeBatch(bytes.NewReader(b), 1<<24)
		if err != nil || len(cs) != 1 || cs[0].Digest != d {
			t.Fatalf("fetch answered %d chunks (%v)", len(cs), err)
		}
		check(cs[0].Value, s2)
	}
	// The client of this version says it reads S2.
	c, addr := servePeer(t, srv)
	got, err := c.Chunk(t.Context(), addr, d)
	if err != nil || cas.Codec(got[0]) != cas.CodecS2 {
		t.Fatalf("this version's client got %v (%v)", cas.Codec(got[0]), err)
	}
}
