package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"cairn/raftfsm"
)

// After the handshake (handshake.go), the dialer's protocol byte says
// which protocol a connection speaks.
const (
	protoRaft byte = 'R'
	protoPeer byte = 'P'
)

// Mux accepts connections on the cluster port, authenticates them and
// sorts them by protocol. It is safe for concurrent use; Close stops it.
type Mux struct {
	ln     net.Listener
	dialer Dialer
	key    []byte // the handshake key; nil refuses every connection
	reject func(remote net.Addr, err error)
	raft   *chanListener
	peer   *chanListener
	wg     sync.WaitGroup
}

// NewMux serves the cluster port on ln, which it owns from now on, with
// dialer's TLS configuration (when set, every connection must first
// complete a TLS handshake with a client certificate the cluster CA
// signed) and cluster secret (every connection must then prove it holds
// it; with no secret, every connection is refused). dialer also reaches
// the other nodes' ports. reject, when not nil, hears of every connection
// refused.
func NewMux(ln net.Listener, dialer Dialer, reject func(remote net.Addr, err error)) *Mux {
	if dialer.TLS != nil {
		ln = tls.NewListener(ln, dialer.TLS)
	}
	m := &Mux{ln: ln, dialer: dialer, reject: reject, raft: newChanListener(ln.Addr()), peer: newChanListener(ln.Addr())}
	if dialer.Secret != "" {
		m.key = authKey(dialer.Secret)
	}
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

// handshakeTimeout bounds the TLS handshake and the cluster handshake of
// one connection.
const handshakeTimeout = 10 * time.Second

// sort authenticates a connection and hands it to the listener of its
// protocol; a connection that fails is closed before anything reads it.
func (m *Mux) sort(c net.Conn) {
	// The refusal is recorded before the close, so whoever sees the
	// connection end can also see why.
	refuse := func(err error) {
		if m.reject != nil {
			m.reject(c.RemoteAddr(), err)
		}
		c.Close()
	}
	if m.key == nil {
		refuse(errors.New("cluster: this node has no cluster secret"))
		return
	}
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			refuse(fmt.Errorf("tls handshake: %w", err))
			return
		}
	}
	proto, err := accept(c, m.key)
	if err != nil {
		refuse(err)
		return
	}
	c.SetDeadline(time.Time{})
	var dst *chanListener
	switch proto {
	case protoRaft:
		dst = m.raft
	case protoPeer:
		dst = m.peer
	default:
		refuse(fmt.Errorf("cluster: unknown protocol %q", proto))
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

// Dialer connects to nodes' cluster ports, and holds what the ports need
// to authenticate connections.
type Dialer struct {
	// TCP opens the connection (tests inject faults here).
	TCP func(ctx context.Context, addr string) (net.Conn, error)
	// TLS, when set, runs mutual TLS on every connection, both ways: its
	// certificate is this node's, RootCAs and ClientCAs the cluster CA.
	TLS *tls.Config
	// Secret is the cluster secret both ends prove they hold.
	Secret string
}

// dial connects to a node's cluster port for the given protocol and
// authenticates the connection.
func (d Dialer) dial(ctx context.Context, addr string, proto byte) (net.Conn, error) {
	if d.Secret == "" {
		return nil, errors.New("cluster: no cluster secret to dial other nodes with")
	}
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
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > handshakeTimeout {
		dl = time.Now().Add(handshakeTimeout)
	}
	c.SetDeadline(dl)
	if err := connect(c, authKey(d.Secret), proto); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c.SetDeadline(time.Time{})
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
