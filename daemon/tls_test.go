package daemon

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeTestCA writes a CA and a certificate for 127.0.0.1 signed by it,
// as PEM files, and returns their paths.
func writeTestCA(t *testing.T) (certFile, keyFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cairn test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "cairn node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600)
		return p
	}
	return write("node.pem", "CERTIFICATE", der), write("node-key.pem", "EC PRIVATE KEY", keyDER), write("ca.pem", "CERTIFICATE", caDER)
}

// TestCluster_TLS runs a cluster whose cluster port speaks TLS: writes
// replicate and read back, and a plain-TCP peer cannot talk to it.
func TestCluster_TLS(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	cert, key, ca := writeTestCA(t)
	tc, err := LoadClusterTLS(cert, key, ca)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.ClusterTLS = tc })
	mkBucket(t, c.nodes[c.leader()], "tls")
	body := content("over tls", 3<<20)
	if st, _ := put(t, c.nodes[c.follower()], "tls", "k", body); st != 200 {
		t.Fatalf("put through a follower: %d", st)
	}
	c.ensureSame()
	if st, b := getConsistent(t, c.nodes[c.follower()], "tls", "k"); st != 200 || !bytes.Equal(b, body) {
		t.Fatalf("read back: %d", st)
	}
	// The cluster port refuses plain connections: no TLS handshake, no Raft.
	conn, err := net.Dial("tcp", c.cfgs[0].RaftAddr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{'P'}) // the peer protocol's first byte
	conn.Write([]byte("GET /peer/status HTTP/1.1\r\nHost: x\r\n\r\n"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	conn.Close()
	if bytes.Contains(buf[:n], []byte("HTTP/1.1 200")) {
		t.Fatal("the cluster port answered plain HTTP")
	}
}
