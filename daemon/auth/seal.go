package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealer encrypts access key secrets for the replicated state, with
// AES-256-GCM under a key derived from the cluster secret; the key id is
// authenticated with each secret, so a sealed secret cannot be moved to
// another key. It is safe for concurrent use.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns the sealer of a cluster secret.
func NewSealer(clusterSecret string) *Sealer {
	m := hmac.New(sha256.New, []byte(clusterSecret))
	m.Write([]byte("cairn access key sealing v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Sealer{aead: aead}
}

// Seal returns the sealed form of the secret of key id.
func (s *Sealer) Seal(id, secret string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(secret), []byte(id))
}

// errUnseal is a sealed secret that does not open: sealed under another
// cluster secret, or for another key.
var errUnseal = errors.New("auth: the access key's secret does not unseal (sealed under another cluster secret?)")

// Open returns the secret of key id from its sealed form.
func (s *Sealer) Open(id string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", fmt.Errorf("%w: %s", errUnseal, id)
	}
	b, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return "", fmt.Errorf("%w: %s", errUnseal, id)
	}
	return string(b), nil
}
