package core

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"cairn/cas"
	"cairn/client"
	"cairn/daemon/cluster"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/internal/metrics"
)

// beforeS2 is a node from before the S2 codec: it refuses a chunk batch
// holding an S2 form as such a node does, a digest mismatch ("unknown
// codec"), and serves the rest of the peer protocol. It counts the
// batches it refused.
func beforeS2(h http.Handler, refused *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/peer/chunks" {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		cs, err := cluster.DecodeBatch(bytes.NewReader(body), 16<<20)
		if err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, client.Error{Code: "InvalidRequest", Message: err.Error()})
			return
		}
		for _, c := range cs {
			if cas.Codec(c.Value[0]) == cas.CodecS2 {
				*refused++
				httpx.WriteJSON(w, http.StatusBadRequest, client.Error{Code: "BadDigest",
					Message: fmt.Sprintf("put chunk %s: digest mismatch: unknown codec", c.Digest.Short())})
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

// TestPush_NodeBeforeS2 covers a rolling upgrade: a node that does not
// read S2 refuses the batch, and the node sends it again with those
// chunks raw; the peer then holds every chunk, verified.
func TestPush_NodeBeforeS2(t *testing.T) {
	local := testStore(t)
	body := bytes.Repeat([]byte(`{"tree": [1, 2, 3], "leaf": 0.25, "split": "f17"},`), 60000)
	res, err := local.Put(t.Context(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ds := res.Recipe.Distinct()
	s2 := 0
	for _, d := range ds {
		if v, err := local.GetStored(t.Context(), d, cas.ForPeer); err == nil && cas.Codec(v[0]) == cas.CodecS2 {
			s2++
		}
	}
	if s2 == 0 {
		t.Fatal("no chunk stored as S2: the test would prove nothing")
	}
	peerStore := testStore(t)
	refused := 0
	dialer, addr := servePeer(t, beforeS2(&cluster.Server{Store: peerStore}, &refused))
	n := New(Config{ID: "n", Store: local, Peers: cluster.NewClient(dialer), Metrics: metrics.New("test")})
	if err := n.pushTo(t.Context(), addr, ds); err != nil {
		t.Fatalf("push to a node before S2: %v", err)
	}
	if refused == 0 {
		t.Fatal("the old node was never sent an S2 form")
	}
	if missing, _ := peerStore.Lacks(t.Context(), ds); len(missing) != 0 {
		t.Fatalf("the old node lacks %d of %d chunks", len(missing), len(ds))
	}
	got, err := io.ReadAll(peerStore.Open(t.Context(), res.Recipe))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("the old node's copy reads back %d bytes (%v)", len(got), err)
	}
}
