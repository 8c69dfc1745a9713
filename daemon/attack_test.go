package daemon

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"cairn/client"
	"cairn/daemon/cluster"
	"cairn/raftfsm"

	"github.com/hashicorp/raft"
)

// rawRaft is a raft.StreamLayer for an attacker: it dials a cluster port
// and speaks Raft straight away, as the cluster port took it before every
// connection had to prove the cluster secret (the first byte 'R', then
// hashicorp/raft's own protocol), optionally over TLS with no client
// certificate.
type rawRaft struct {
	tls *tls.Config
}

func (rawRaft) Accept() (net.Conn, error) { select {} }
func (rawRaft) Close() error              { return nil }
func (rawRaft) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l rawRaft) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	if l.tls != nil {
		tc := tls.Client(c, l.tls)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	_, err = c.Write([]byte{'R'})
	return c, err
}

// forgeAppend sends a node, with hashicorp/raft's own transport, an
// AppendEntries from a leader that does not exist, in a later term,
// carrying a command that creates a bucket: what an attacker who read the
// last index and term off /metrics sent.
func forgeAppend(t *testing.T, n *Server, layer rawRaft) error {
	t.Helper()
	trans := raft.NewNetworkTransport(layer, 1, 5*time.Second, io.Discard)
	defer trans.Close()
	st := n.Node().Status()
	cmd, err := raftfsm.Encode(&raftfsm.CreateBucket{Bucket: "forged", Time: 1})
	if err != nil {
		t.Fatal(err)
	}
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("attacker"), Addr: []byte("127.0.0.1:1")},
		Term:      st.Term + 5, PrevLogEntry: st.LastLogIndex, PrevLogTerm: st.Term, LeaderCommitIndex: st.LastLogIndex + 1,
		Entries: []*raft.Log{{Index: st.LastLogIndex + 1, Term: st.Term + 5, Type: raft.LogCommand, Data: cmd}},
	}
	var resp raft.AppendEntriesResponse
	return trans.AppendEntries("victim", raft.ServerAddress(n.RaftAddr()), req, &resp)
}

// rawPeer sends one peer-protocol request over a connection that skipped
// the handshake, and returns what came back.
func rawPeer(t *testing.T, n *Server, tlsConf *tls.Config, method, path, body string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.RaftAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tlsConf != nil {
		tc := tls.Client(c, tlsConf)
		if err := tc.Handshake(); err != nil {
			return "tls: " + err.Error()
		}
		c = tc
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "P%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-cluster-secret\r\nContent-Length: %d\r\n\r\n%s", method, path, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "no answer: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// TestCluster_RefusesForgedRaft does what the forged-Raft attack did, and
// more: hashicorp/raft's own transport from a socket that never proved the
// cluster secret, a peer request that carries the secret as a bearer token
// (as peers used to) but skipped the handshake, a join, and a node that
// knows the protocol but not the secret. Without and with cluster TLS
// (where the attacker has no client certificate the cluster CA signed).
// Everything is refused, the state does not change, and nobody loses the
// leadership.
func TestCluster_RefusesForgedRaft(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("TLS=%v", withTLS), func(t *testing.T) {
			var attackerTLS, clusterTLS *tls.Config
			if withTLS {
				cert, key, ca := writeTestCA(t)
				var err error
				if clusterTLS, err = LoadClusterTLS(cert, key, ca); err != nil {
					t.Fatal(err)
				}
			}
			c := newTestCluster(t, 3, func(cfg *Config) { cfg.ClusterTLS = clusterTLS })
			if withTLS {
				attackerTLS = &tls.Config{InsecureSkipVerify: true} // trusts anything, presents nothing
			}
			l := c.nodes[c.leader()]
			mkBucket(t, l, "data")
			c.ensureSame()
			leaderID, _ := l.Node().Leader()
			before := stateOf(snapshotState(t, l))
			terms := map[int]uint64{}
			for i, n := range c.nodes {
				terms[i] = n.Node().Status().Term
			}

			for i, n := range c.nodes {
				if err := forgeAppend(t, n, rawRaft{tls: attackerTLS}); err == nil {
					t.Fatalf("node %d took a forged AppendEntries", i)
				}
				if got := rawPeer(t, n, attackerTLS, "POST", "/peer/apply", "\x01{\"bucket\":\"forged2\",\"time\":1}"); got != "" && got[0] >= '1' && got[0] <= '5' {
					t.Fatalf("node %d answered a peer request without the handshake: %s", i, got)
				}
				if got := rawPeer(t, n, attackerTLS, "POST", "/peer/join", `{"id":"evil","raft_addr":"127.0.0.1:1","voter":true}`); got != "" && got[0] >= '1' && got[0] <= '5' {
					t.Fatalf("node %d answered a join without the handshake: %s", i, got)
				}
			}
			// A node that knows the protocol but not the secret.
			wrong := cluster.NewClient(cluster.Dialer{TCP: c.cfgs[0].Dial, TLS: c.cfgs[0].ClusterTLS, Secret: "not the cluster secret"})
			if err := wrong.ChangeMembership(t.Context(), l.RaftAddr(), "join", client.JoinRequest{ID: "evil", RaftAddr: "127.0.0.1:1", Voter: true}); err == nil {
				t.Fatal("a join with a wrong cluster secret went through")
			}

			if got := stateOf(snapshotState(t, l)); got != before {
				t.Fatalf("the state changed:\n%s\nwas\n%s", got, before)
			}
			for _, b := range []string{"forged", "forged2"} {
				if _, err := l.Node().State().Bucket(b); err == nil {
					t.Fatalf("bucket %s exists", b)
				}
			}
			members, err := l.Node().Members()
			if err != nil || len(members) != 3 {
				t.Fatalf("members %+v, %v", members, err)
			}
			for i, n := range c.nodes {
				if id, _ := n.Node().Leader(); id != leaderID {
					t.Fatalf("node %d follows %q, not %q", i, id, leaderID)
				}
				if term := n.Node().Status().Term; term != terms[i] {
					t.Fatalf("node %d moved from term %d to %d", i, terms[i], term)
				}
			}
			if m := metricsText(t, l); !bytes.Contains([]byte(m), []byte("cairn_cluster_connections_refused_total")) {
				t.Fatal("no refusal counter")
			}
			// The cluster still works.
			if st, _ := put(t, c.nodes[c.follower()], "data", "after", []byte("still fine")); st != 200 {
				t.Fatalf("a write after the attacks: %d", st)
			}
		})
	}
}
