package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"cairn/raftfsm"
)

// The first byte of a connection to the cluster port says which protocol
// it speaks.
const (
	protoRaft byte = 'R'
	protoPeer byte = 'P'
)

// Mux accepts connections on the cluster port and sorts them by their
// first byte. It is safe for concurrent use; Close stops it.
type Mux struct {
	ln     net.Listener
	dialer Dialer
	raft   *chanListener
	peer   *chanListener
	wg     sync.WaitGroup
}

// NewMux serves the cluster port on ln, which it owns from now on; with
// tlsConf set, every connection must complete a TLS handshake first.
// dialer reaches the other nodes' cluster ports.
func NewMux(ln net.Listener, tlsConf *tls.Config, dialer Dialer) *Mux {
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	m := &Mux{ln: ln, dialer: dialer, raft: newChanListener(ln.Addr()), peer: newChanListener(ln.Addr())}
	m.wg.Go(m.run)
	return m
}

// Addr is the address the port listens on, which other nodes dial.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Raft returns the connections that carry Raft, and a dialer of other
// nodes' Raft, for raftfsm.
func (m *Mux) Raft() raftfsm.StreamLayer { return raftLayer{m.raft, m.dialer} }

// Peer returns the connections that carry the peer protocol.
func (m *Mux) Peer() net.Listener { return m.peer }

func (m *Mux) run() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.raft.close()
			m.peer.close()
			return
		}
		go m.sort(c)
	}
}

func (m *Mux) sort(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	var dst *chanListener
	switch b[0] {
	case protoRaft:
		dst = m.raft
	case protoPeer:
		dst = m.peer
	default:
		c.Close()
		return
	}
	if !dst.deliver(c) {
		c.Close()
	}
}

// Close stops accepting connections.
func (m *Mux) Close() error {
	err := m.ln.Close()
	m.wg.Wait()
	return err
}

// Dialer connects to nodes' cluster ports.
type Dialer struct {
	// TCP opens the connection (tests inject faults here).
	TCP func(ctx context.Context, addr string) (net.Conn, error)
	// TLS, when set, is the client side of the port's TLS.
	TLS *tls.Config
}

// dial connects to a node's cluster port for the given protocol.
func (d Dialer) dial(ctx context.Context, addr string, proto byte) (net.Conn, error) {
	c, err := d.TCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	if d.TLS != nil {
		conf := d.TLS.Clone()
		if conf.ServerName == "" {
			conf.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(c, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		c = tc
	}
	if _, err := c.Write([]byte{proto}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) close()         { l.once.Do(func() { close(l.closed) }) }
func (l *chanListener) Close() error   { l.close(); return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }

// raftLayer is the raftfsm.StreamLayer over the mux.
type raftLayer struct {
	*chanListener
	dialer Dialer
}

func (r raftLayer) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.dialer.dial(ctx, addr, protoRaft)
}
