package core

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/client"
	"cairn/daemon/cluster"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/internal/metrics"
)

// testStore opens a chunk store in a temporary folder.
func testStore(t *testing.T) *cas.Store {
	t.Helper()
	s, err := cas.Open(t.TempDir(), cas.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// olderPeer is a node from before POST /peer/fetch: it answers that route
// as a node that does not know it did, NoSuchRoute, and serves the rest of
// the peer protocol.
func olderPeer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/peer/fetch" {
			httpx.WriteJSON(w, http.StatusNotFound, client.Error{Code: "NoSuchRoute", Message: "no peer route POST /peer/fetch"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// servePeer serves h as the peer protocol on a cluster port on loopback.
func servePeer(t *testing.T, h http.Handler) (cluster.Dialer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	dialer := cluster.Dialer{Secret: "s", TCP: func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }}
	m := cluster.NewMux(ln, dialer, nil)
	srv := &http.Server{Handler: h}
	go srv.Serve(m.Peer())
	t.Cleanup(func() { srv.Close(); m.Close() })
	return dialer, m.Addr().String()
}

// TestFetch_OlderPeer covers a rolling upgrade: a peer that does not know
// POST /peer/fetch answers NoSuchRoute, and the node fetches from it chunk
// by chunk, as nodes did before, each verified and kept.
func TestFetch_OlderPeer(t *testing.T) {
	peerStore := testStore(t)
	body := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{1}).Read(body)
	res, err := peerStore.Put(t.Context(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	dialer, addr := servePeer(t, olderPeer(&cluster.Server{Store: peerStore}))
	n := New(Config{ID: "n", Store: testStore(t), Peers: cluster.NewClient(dialer), Metrics: metrics.New("test")})

	ds := res.Recipe.Distinct()
	nowhere := chunk.Sum([]byte("nowhere"))
	if _, _, _, err := n.fetchBatch(t.Context(), addr, ds); !errors.Is(err, cluster.ErrNoRoute) {
		t.Fatalf("a batch fetch from an older peer: %v, want ErrNoRoute", err)
	}
	got, added, looked, err := n.fetchEach(t.Context(), addr, append(ds, nowhere))
	if err != nil || len(got) != len(ds) || added != len(ds) || looked != len(ds)+1 {
		t.Fatalf("fetchEach: %d got, %d added, %d looked, %v; want %d, %d, %d", len(got), added, looked, err, len(ds), len(ds), len(ds)+1)
	}
	rd := n.store.Open(t.Context(), res.Recipe)
	defer rd.Close()
	var back bytes.Buffer
	if _, err := back.ReadFrom(rd); err != nil || !bytes.Equal(back.Bytes(), body) {
		t.Fatalf("read back the fetched chunks: %v", err)
	}
}
