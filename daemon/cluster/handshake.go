package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
)

// Every connection to the cluster port starts with a handshake in which
// both ends prove they hold the cluster secret, before one byte of Raft or
// of the peer protocol is read:
//
//	port -> dialer: "CAIRN\x01", nonce Np (32 bytes)
//	dialer -> port: protocol byte, nonce Nd (32 bytes), HMAC(K, "dialer" Np Nd protocol)
//	port -> dialer: HMAC(K, "port" Np Nd protocol)
//
// K is HMAC-SHA256 keyed with the secret over a fixed label, so the secret
// itself never crosses the network, and a fresh nonce from each end makes
// every proof good for one connection only: a recorded handshake cannot be
// replayed. The handshake authenticates the connection; it does not
// encrypt it (cluster TLS does, and runs first when configured).

var handshakeMagic = []byte("CAIRN\x01")

const nonceSize = 32

// errHandshake is a connection that failed the handshake.
var errHandshake = errors.New("cluster: handshake failed")

// authKey derives the handshake key from the cluster secret.
func authKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("cairn cluster port v1"))
	return m.Sum(nil)
}

func proof(key []byte, side string, np, nd []byte, proto byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(side))
	m.Write(np)
	m.Write(nd)
	m.Write([]byte{proto})
	return m.Sum(nil)
}

// accept runs the port's side of the handshake on c and returns the
// protocol the dialer asked for.
func accept(c net.Conn, key []byte) (byte, error) {
	np := make([]byte, nonceSize)
	rand.Read(np)
	if _, err := c.Write(append(append([]byte{}, handshakeMagic...), np...)); err != nil {
		return 0, err
	}
	var msg [1 + nonceSize + sha256.Size]byte
	if _, err := io.ReadFull(c, msg[:]); err != nil {
		return 0, fmt.Errorf("%w: %v", errHandshake, err)
	}
	proto, nd, got := msg[0], msg[1:1+nonceSize], msg[1+nonceSize:]
	if !hmac.Equal(got, proof(key, "dialer", np, nd, proto)) {
		return 0, fmt.Errorf("%w: the dialer does not hold the cluster secret", errHandshake)
	}
	if _, err := c.Write(proof(key, "port", np, nd, proto)); err != nil {
		return 0, err
	}
	return proto, nil
}

// connect runs the dialer's side of the handshake on c for proto.
func connect(c net.Conn, key []byte, proto byte) error {
	var hello [6 + nonceSize]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// An HTTP server, the usual mistake, waits for a request.
			return fmt.Errorf("%w: the port sent no greeting: not a cairn cluster port (an HTTP port? members are reached at their cluster address)", errHandshake)
		}
		return fmt.Errorf("%w: %v", errHandshake, err)
	}
	if string(hello[:6]) != string(handshakeMagic) {
		return fmt.Errorf("%w: not a cairn cluster port", errHandshake)
	}
	np := hello[6:]
	nd := make([]byte, nonceSize)
	rand.Read(nd)
	msg := append(append([]byte{proto}, nd...), proof(key, "dialer", np, nd, proto)...)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("%w: the port closed the connection (a wrong cluster secret?): %v", errHandshake, err)
	}
	if !hmac.Equal(got, proof(key, "port", np, nd, proto)) {
		return fmt.Errorf("%w: the port does not hold the cluster secret", errHandshake)
	}
	return nil
}
