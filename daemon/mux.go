package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The cluster port carries two protocols: Raft's and the peer API (chunk
// push and fetch, forwarded commands, joins). A connection's first byte
// says which.
const (
	protoRaft byte = 'R'
	protoPeer byte = 'P'
)

// clusterMux accepts connections on the cluster port and sorts them by
// their first byte. It is safe for concurrent use.
type clusterMux struct {
	ln        net.Listener
	advertise net.Addr
	raft      *chanListener
	peer      *chanListener
	wg        sync.WaitGroup
}

func newClusterMux(addr string, tlsConf *tls.Config) (*clusterMux, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on cluster address %s: %w", addr, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	m := &clusterMux{ln: ln, advertise: ln.Addr(), raft: newChanListener(ln.Addr()), peer: newChanListener(ln.Addr())}
	m.wg.Go(m.run)
	return m, nil
}

func (m *clusterMux) run() {
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

func (m *clusterMux) sort(c net.Conn) {
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

func (m *clusterMux) Close() error {
	err := m.ln.Close()
	m.wg.Wait()
	return err
}

// clusterDialer connects to nodes' cluster ports.
type clusterDialer struct {
	tcp func(ctx context.Context, addr string) (net.Conn, error)
	tls *tls.Config
}

// dial connects to a node's cluster port for the given protocol.
func (cd clusterDialer) dial(ctx context.Context, addr string, proto byte) (net.Conn, error) {
	c, err := cd.tcp(ctx, addr)
	if err != nil {
		return nil, err
	}
	if cd.tls != nil {
		conf := cd.tls.Clone()
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

// raftLayer is the raft.StreamLayer over the mux.
type raftLayer struct {
	*chanListener
	dialer clusterDialer
}

func (r raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.dialer.dial(ctx, string(addr), protoRaft)
}
