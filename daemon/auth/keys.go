package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"cairn/raftfsm"
)

// Config sets the credentials Keys accepts besides the access keys of the
// state.
type Config struct {
	// Token, when set, is a bearer token with the admin role, from the
	// node's configuration (the --token of earlier versions).
	Token string
	// MLflowUsername and MLflowPassword, when set, are HTTP Basic
	// credentials with the write role (the --mlflow-username of earlier
	// versions).
	MLflowUsername, MLflowPassword string
	// Anonymous is the role of requests without credentials: None unless
	// the operator opens reads (Read) or everything (Admin) on purpose.
	Anonymous Role
	Logger    *slog.Logger
}

// Keys authenticates requests against the access keys of the replicated
// state. It is safe for concurrent use.
type Keys struct {
	cfg    Config
	state  *raftfsm.State
	sealer *Sealer
	log    *slog.Logger

	mu    sync.Mutex
	cache map[string]opened // access key id -> its secret, while the state holds the same sealed form
}

type opened struct {
	sealed []byte
	secret string
}

// NewKeys returns the authenticator of the keys in state.
func NewKeys(state *raftfsm.State, sealer *Sealer, cfg Config) *Keys {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Keys{cfg: cfg, state: state, sealer: sealer, log: cfg.Logger, cache: map[string]opened{}}
}

// Lookup returns the secret and the identity of an access key. A key the
// state does not hold, or whose secret does not unseal, is not found.
func (k *Keys) Lookup(id string) (string, Identity, bool) {
	key, err := k.state.AccessKey(id)
	if err != nil {
		if !errors.Is(err, raftfsm.ErrNotFound) {
			k.log.Warn("read access key", "id", id, "err", err)
		}
		return "", Identity{}, false
	}
	secret, err := k.open(key)
	if err != nil {
		k.log.Error("access key unusable", "id", id, "err", err)
		return "", Identity{}, false
	}
	role, err := ParseRole(key.Role)
	if err != nil {
		return "", Identity{}, false
	}
	return secret, Identity{Key: key.ID, Role: role, Buckets: key.Buckets}, true
}

// Secret returns the secret of an access key, for SigV4.
func (k *Keys) Secret(id string) (string, bool) {
	s, _, ok := k.Lookup(id)
	return s, ok
}

func (k *Keys) open(key raftfsm.AccessKey) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if o, ok := k.cache[key.ID]; ok && bytes.Equal(o.sealed, key.Sealed) {
		return o.secret, nil
	}
	secret, err := k.sealer.Open(key.ID, key.Sealed)
	if err != nil {
		return "", err
	}
	k.cache[key.ID] = opened{sealed: key.Sealed, secret: secret}
	return secret, nil
}

// Anonymous is the identity of a request without credentials.
func (k *Keys) Anonymous() Identity { return Identity{Role: k.cfg.Anonymous} }

// Authenticate returns who sent r, from its Authorization header: HTTP
// Basic with an access key's id and secret, or a bearer token "id:secret"
// (or the configured token). A request without one is anonymous; wrong
// credentials are ErrUnauthenticated, never anonymous.
func (k *Keys) Authenticate(r *http.Request) (Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return k.Anonymous(), nil
	}
	if user, pass, ok := r.BasicAuth(); ok {
		return k.check(user, pass, func() (Identity, bool) {
			if k.cfg.MLflowUsername != "" && equal(user, k.cfg.MLflowUsername) && equal(pass, k.cfg.MLflowPassword) {
				return Identity{Key: "mlflow:" + user, Role: Write}, true
			}
			return Identity{}, false
		})
	}
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		if k.cfg.Token != "" && equal(tok, k.cfg.Token) {
			return Identity{Key: "token", Role: Admin}, nil
		}
		id, secret, _ := strings.Cut(tok, ":")
		return k.check(id, secret, nil)
	}
	return Identity{}, fmt.Errorf("%w: the Authorization header is neither Basic nor Bearer", ErrUnauthenticated)
}

// check compares the secret of access key id with secret; static, when
// not nil, is tried for credentials that are not an access key.
func (k *Keys) check(id, secret string, static func() (Identity, bool)) (Identity, error) {
	if want, ident, ok := k.Lookup(id); ok && equal(secret, want) {
		return ident, nil
	}
	if static != nil {
		if ident, ok := static(); ok {
			return ident, nil
		}
	}
	return Identity{}, fmt.Errorf("%w: unknown access key or wrong secret", ErrUnauthenticated)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

var keyAlphabet = base32.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").WithPadding(base32.NoPadding)

// NewKey returns a new random access key id ("CK" and 18 characters) and
// secret (40 characters).
func NewKey() (id, secret string) {
	b := make([]byte, 40)
	rand.Read(b)
	return "CK" + keyAlphabet.EncodeToString(b[:12])[:18], strings.ToLower(keyAlphabet.EncodeToString(b[12:]))[:40]
}
