package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// servePort serves a cluster port with secret on loopback; its listeners
// answer every connection they are handed with "ok" (Raft) or "peer"
// (peer protocol), and refusals are recorded.
func servePort(t *testing.T, secret string) (addr string, refused func() []error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errs []error
	m := NewMux(ln, testDialer(secret), func(_ net.Addr, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
	t.Cleanup(func() { m.Close() })
	for _, l := range []struct {
		ln  net.Listener
		say string
	}{{m.Raft(), "ok"}, {m.Peer(), "peer"}} {
		go func() {
			for {
				c, err := l.ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(l.say))
				c.Close()
			}
		}()
	}
	return m.Addr().String(), func() []error { mu.Lock(); defer mu.Unlock(); return append([]error(nil), errs...) }
}

// TestMux_Handshake connects with the secret, for each protocol, and gets
// to the listener of that protocol.
func TestMux_Handshake(t *testing.T) {
	addr, _ := servePort(t, "s3cret")
	for _, p := range []struct {
		proto byte
		want  string
	}{{protoRaft, "ok"}, {protoPeer, "peer"}} {
		c, err := testDialer("s3cret").dial(t.Context(), addr, p.proto)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != p.want {
			t.Fatalf("protocol %q reached %q", p.proto, b)
		}
	}
}

// TestMux_RefusesStrangers: a wrong secret, no handshake at all (the first
// byte of Raft, as hashicorp/raft's transport sends it), a replayed
// handshake, and any connection to a port without a secret are all closed
// before a listener sees them.
func TestMux_RefusesStrangers(t *testing.T) {
	addr, refused := servePort(t, "s3cret")
	if _, err := testDialer("wrong").dial(t.Context(), addr, protoRaft); !errors.Is(err, errHandshake) {
		t.Fatalf("a wrong secret dialled: %v", err)
	}
	// Raft's own transport writes its RPC type byte and a msgpack body.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte{'R', 0, 0x85})
	raw.(*net.TCPConn).CloseWrite() // and nothing more
	if got := readAll(t, raw); bytes.Contains(got, []byte("ok")) {
		t.Fatalf("an unauthenticated Raft connection reached Raft: %q", got)
	}
	// Replay: record what a good dialer sends, and send it again on a new
	// connection, whose port nonce differs.
	rec := &recorder{}
	good := testDialer("s3cret")
	inner := good.TCP
	good.TCP = func(ctx context.Context, a string) (net.Conn, error) {
		c, err := inner(ctx, a)
		return &recordConn{Conn: c, rec: rec}, err
	}
	c, err := good.dial(t.Context(), addr, protoRaft)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	replay, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(replay, make([]byte, 6+nonceSize))
	replay.Write(rec.sent())
	if got := readAll(t, replay); bytes.Contains(got, []byte("ok")) {
		t.Fatalf("a replayed handshake reached Raft: %q", got)
	}
	if n := len(refused()); n != 3 {
		t.Fatalf("%d refusals recorded, want 3: %v", n, refused())
	}
	// A port without a secret refuses everyone.
	open, _ := servePort(t, "")
	if _, err := testDialer("anything").dial(t.Context(), open, protoPeer); err == nil {
		t.Fatal("a port without a secret let a connection in")
	}
}

func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	c.Close()
	return b
}

type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) sent() []byte { r.mu.Lock(); defer r.mu.Unlock(); return bytes.Clone(r.buf.Bytes()) }

type recordConn struct {
	net.Conn
	rec *recorder
}

func (c *recordConn) Write(b []byte) (int, error) {
	c.rec.mu.Lock()
	c.rec.buf.Write(b)
	c.rec.mu.Unlock()
	return c.Conn.Write(b)
}

// TestMux_DialHTTPPort: a node told a member's HTTP port instead of its
// cluster port hears no greeting; the error says what the port likely is.
func TestMux_DialHTTPPort(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := testDialer("s3cret").dial(ctx, srv.Listener.Addr().String(), protoPeer)
	if !errors.Is(err, errHandshake) || !strings.Contains(err.Error(), "an HTTP port?") {
		t.Fatalf("dial an HTTP port: %v", err)
	}
}
