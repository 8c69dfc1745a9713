package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"cairn/cas"
	"cairn/client"
	"cairn/daemon/internal/apierr"
	"cairn/raftfsm"
)

// crossingErrors is every error value a node can answer a peer with: the
// state machine's, the chunk store's, the protocol's own, and the context's.
func crossingErrors() []error {
	errs := raftfsm.Errors()
	for _, w := range wireErrors {
		errs = append(errs, w.err)
	}
	return errs
}

// servePeer serves h as the peer protocol of a cluster port on loopback
// and returns a client of it and the port's address.
func servePeer(t *testing.T, h http.Handler) (*Client, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dialer := testDialer("secret")
	m := NewMux(ln, dialer, nil)
	srv := &http.Server{Handler: h}
	go srv.Serve(m.Peer())
	t.Cleanup(func() { srv.Close(); m.Close() })
	return NewClient(dialer), m.Addr().String()
}

// TestErrors_RoundTrip sends every error that can cross the peer protocol,
// bare and wrapped with context, through a real cluster port: the asking
// node gets back an error that errors.Is the very sentinel, with the
// answering node's message. A stale leader's ErrNotLeader must stay
// ErrNotLeader, or a follower forwarding a write would not try the next
// leader.
func TestErrors_RoundTrip(t *testing.T) {
	var send error
	c, addr := servePeer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeError(w, send) }))
	for _, base := range crossingErrors() {
		for _, err := range []error{base, fmt.Errorf("%w: with context", base)} {
			send = err
			got := c.Do(t.Context(), http.MethodGet, addr, "/peer/x", nil, nil)
			if !errors.Is(got, base) {
				t.Errorf("%q came back as %q (%T), which is not %q", err, got, got, base)
				continue
			}
			if got.Error() != err.Error() {
				t.Errorf("%q came back with the message %q", err, got)
			}
		}
	}
}

// TestErrors_OlderPeer decodes the answers of a node from before the codes
// of this protocol: the sentinel's text under a code of the user-facing
// surfaces, as it wrote ErrNotLeader, is still recognised.
func TestErrors_OlderPeer(t *testing.T) {
	for _, e := range []struct {
		status int
		code   string
		err    error
	}{
		{503, "ServiceUnavailable", raftfsm.ErrNotLeader},
		{503, "OutcomeUnknown", raftfsm.ErrUnknownOutcome},
		{404, "NoSuchChunk", cas.ErrNotFound},
		{400, "BadDigest", cas.ErrDigestMismatch},
		{404, "NoSuchRoute", ErrNoRoute},
	} {
		got := decodeError(e.status, client.Error{Code: e.code, Message: e.err.Error() + ": details"})
		if !errors.Is(got, e.err) {
			t.Errorf("%d %s %q decoded as %v", e.status, e.code, e.err, got)
		}
	}
	if got := decodeError(500, client.Error{Code: "InternalError", Message: "boom"}); crosses(got) {
		t.Errorf("an unknown answer decoded as a known error: %v", got)
	}
}

// crosses reports whether err is one of the errors that cross.
func crosses(err error) bool {
	for _, e := range crossingErrors() {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// TestErrors_RequestErrors keeps the code of a refusal of the request: the
// asking node sees the code, and an unknown one is never mistaken for a
// sentinel.
func TestErrors_RequestErrors(t *testing.T) {
	var send error
	c, addr := servePeer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeError(w, send) }))
	send = apierr.BadRequest("InvalidRequest", "chunk batch: bad length")
	got := c.Do(t.Context(), http.MethodGet, addr, "/peer/x", nil, nil)
	if got == nil || crosses(got) || got.Error() != "peer answered 400 InvalidRequest: chunk batch: bad length" {
		t.Fatalf("a request error came back as %v", got)
	}
}

// TestServer_UnknownRoute answers NoSuchRoute, which a newer node takes as
// an older peer's and falls back from.
func TestServer_UnknownRoute(t *testing.T) {
	c, addr := servePeer(t, &Server{})
	if err := c.Do(t.Context(), http.MethodPost, addr, "/peer/no-such-route", nil, nil); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("unknown peer route: %v", err)
	}
}

// testDialer dials loopback with a cluster secret.
func testDialer(secret string) Dialer {
	var d net.Dialer
	return Dialer{Secret: secret, TCP: func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }}
}
