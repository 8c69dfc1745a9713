package raftfsm

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Roles of access keys: what a key may do. Each role includes the ones
// before it.
const (
	RoleRead  = "read"
	RoleWrite = "write"
	RoleAdmin = "admin"
)

// AccessKey is a credential of the whole cluster: every node accepts it,
// on every surface. The state holds its secret sealed (encrypted by the
// daemon before it proposes the key); raftfsm never sees it in clear.
type AccessKey struct {
	ID      string   `json:"id"`
	Sealed  []byte   `json:"sealed"`
	Role    string   `json:"role"`
	Buckets []string `json:"buckets,omitempty"` // none: every bucket
	Name    string   `json:"name,omitempty"`
	Created int64    `json:"created"` // unix nanoseconds, set by the proposer
}

// PutKey adds an access key. An existing key with the same id is a
// conflict, unless Replace is set.
type PutKey struct {
	Key     AccessKey `json:"key"`
	Replace bool      `json:"replace,omitempty"`
}

// DeleteKey removes an access key.
type DeleteKey struct {
	ID string `json:"id"`
}

func (PutKey) Op() Op    { return OpPutKey }
func (DeleteKey) Op() Op { return OpDeleteKey }

// MaxKeyIDLength bounds an access key id.
const MaxKeyIDLength = 128

// validKeyID reports why id cannot name an access key, or "".
func validKeyID(id string) string {
	if len(id) < 3 || len(id) > MaxKeyIDLength {
		return fmt.Sprintf("an access key id has 3 to %d characters, not %d", MaxKeyIDLength, len(id))
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Sprintf("access key id %q: use letters, digits, '-', '_' and '.'", id)
		}
	}
	return ""
}

func (x *txn) putKey(c *PutKey) (Result, error) {
	k := c.Key
	if why := validKeyID(k.ID); why != "" {
		return reject(rejectf(ErrInvalidCommand, "%s", why))
	}
	if !slices.Contains([]string{RoleRead, RoleWrite, RoleAdmin}, k.Role) {
		return reject(rejectf(ErrInvalidCommand, "role %q: want read, write or admin", k.Role))
	}
	if len(k.Sealed) == 0 {
		return reject(rejectf(ErrInvalidCommand, "access key %s has no secret", k.ID))
	}
	for _, b := range k.Buckets {
		if !ValidBucketName(b) {
			return reject(rejectf(ErrInvalidCommand, "access key %s: invalid bucket name %q", k.ID, b))
		}
	}
	if !c.Replace {
		var old AccessKey
		ok, err := x.get(key(tKey, k.ID), &old)
		if err != nil {
			return Result{}, err
		}
		if ok {
			return reject(rejectf(ErrConflict, "access key %s exists", k.ID))
		}
	}
	if err := x.put(key(tKey, k.ID), k); err != nil {
		return Result{}, err
	}
	return Result{Key: &k}, nil
}

func (x *txn) deleteKey(c *DeleteKey) (Result, error) {
	var old AccessKey
	ok, err := x.get(key(tKey, c.ID), &old)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return reject(rejectf(ErrNotFound, "access key %s", c.ID))
	}
	return Result{}, x.del(key(tKey, c.ID))
}

// AccessKey returns an access key, or ErrNotFound.
func (s *State) AccessKey(id string) (AccessKey, error) {
	var k AccessKey
	err := s.f.view(func(x *txn) error {
		ok, err := x.get(key(tKey, id), &k)
		if err == nil && !ok {
			err = fmt.Errorf("%w: access key %s", ErrNotFound, id)
		}
		return err
	})
	return k, err
}

// AccessKeys returns every access key, in id order.
func (s *State) AccessKeys() ([]AccessKey, error) {
	var out []AccessKey
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tKey}, nil, 0, func(_, v []byte) error {
			var k AccessKey
			err := json.Unmarshal(v, &k)
			out = append(out, k)
			return err
		})
	})
	return out, err
}
