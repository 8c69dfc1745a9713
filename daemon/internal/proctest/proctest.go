package proctest

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Ports are the HTTP and cluster sockets of one node. Their addresses stay
// the node's across restarts.
type Ports struct {
	HTTPAddr, ClusterAddr string
	http, cluster         net.Listener
}

// Listen opens both sockets on free loopback ports.
func Listen(t testing.TB) *Ports {
	t.Helper()
	h, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	p := &Ports{HTTPAddr: h.Addr().String(), ClusterAddr: c.Addr().String(), http: h, cluster: c}
	t.Cleanup(p.close)
	return p
}

// Take returns the open sockets, for a node in this process to own, and
// forgets them; the next Take or Start listens again at the same
// addresses, as a restarted node does.
func (p *Ports) Take(t testing.TB) (httpLn, clusterLn net.Listener) {
	t.Helper()
	p.relisten(t)
	httpLn, clusterLn = p.http, p.cluster
	p.http, p.cluster = nil, nil
	return httpLn, clusterLn
}

// relisten opens the sockets again at their addresses when they were
// given away. The node that had them has closed them; the port can stay
// busy for a moment, so it tries for a few seconds.
func (p *Ports) relisten(t testing.TB) {
	t.Helper()
	listen := func(addr string) net.Listener {
		deadline := time.Now().Add(10 * time.Second)
		for {
			ln, err := net.Listen("tcp", addr)
			if err == nil {
				return ln
			}
			if time.Now().After(deadline) {
				t.Fatalf("listen again on %s: %v", addr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if p.http == nil {
		p.http = listen(p.HTTPAddr)
	}
	if p.cluster == nil {
		p.cluster = listen(p.ClusterAddr)
	}
}

func (p *Ports) close() {
	for _, ln := range []net.Listener{p.http, p.cluster} {
		if ln != nil {
			ln.Close()
		}
	}
}

// Start starts cmd (a cairn serve command) with the node's sockets handed
// over as "http" and "cluster". The process then holds them alone: when it
// exits, the ports are free again, and the next Start listens anew.
func (p *Ports) Start(t testing.TB, cmd *exec.Cmd) error {
	t.Helper()
	p.relisten(t)
	var files []*os.File
	for _, ln := range []net.Listener{p.http, p.cluster} {
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
		p.close()
		p.http, p.cluster = nil, nil
	}()
	// LISTEN_PID must be the process's own id, which only the process
	// knows once it runs: a shell sets it and replaces itself with cairn.
	args := append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh"}, args...)
	cmd.ExtraFiles = files
	cmd.Env = append(cmd.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=http:cluster")
	return cmd.Start()
}
