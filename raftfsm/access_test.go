package raftfsm

import (
	"errors"
	"reflect"
	"testing"
)

// TestApply_AccessKeys adds, replaces, lists and deletes access keys, and
// refuses the malformed ones without changing the state.
func TestApply_AccessKeys(t *testing.T) {
	h := newTestFSM(t)
	admin := AccessKey{ID: "admin-1", Sealed: []byte("sealed-a"), Role: RoleAdmin, Created: 1}
	reader := AccessKey{ID: "reader.1", Sealed: []byte("sealed-r"), Role: RoleRead, Buckets: []string{"models"}, Name: "ci", Created: 2}
	if r := h.ok(t, &PutKey{Key: admin}); r.Key == nil || r.Key.ID != admin.ID {
		t.Fatalf("put key result %+v", r)
	}
	h.ok(t, &PutKey{Key: reader})
	for name, c := range map[string]struct {
		cmd  Command
		want error
	}{
		"Exists":      {&PutKey{Key: admin}, ErrConflict},
		"ShortID":     {&PutKey{Key: AccessKey{ID: "ab", Sealed: []byte("x"), Role: RoleRead}}, ErrInvalidCommand},
		"BadIDChar":   {&PutKey{Key: AccessKey{ID: "a:b:c", Sealed: []byte("x"), Role: RoleRead}}, ErrInvalidCommand},
		"BadRole":     {&PutKey{Key: AccessKey{ID: "abc", Sealed: []byte("x"), Role: "root"}}, ErrInvalidCommand},
		"NoSecret":    {&PutKey{Key: AccessKey{ID: "abc", Role: RoleRead}}, ErrInvalidCommand},
		"BadBucket":   {&PutKey{Key: AccessKey{ID: "abc", Sealed: []byte("x"), Role: RoleRead, Buckets: []string{"No_Caps"}}}, ErrInvalidCommand},
		"DeleteNoKey": {&DeleteKey{ID: "nobody"}, ErrNotFound},
	} {
		t.Run(name, func(t *testing.T) { h.reject(t, c.cmd, c.want) })
	}
	got, err := h.s.AccessKeys()
	if err != nil || !reflect.DeepEqual(got, []AccessKey{admin, reader}) {
		t.Fatalf("keys %+v, %v", got, err)
	}
	// Replace swaps the secret and the role of an existing key.
	admin2 := admin
	admin2.Sealed, admin2.Role = []byte("sealed-b"), RoleWrite
	h.ok(t, &PutKey{Key: admin2, Replace: true})
	if k, err := h.s.AccessKey(admin.ID); err != nil || string(k.Sealed) != "sealed-b" || k.Role != RoleWrite {
		t.Fatalf("replaced key %+v, %v", k, err)
	}
	h.ok(t, &DeleteKey{ID: reader.ID})
	if _, err := h.s.AccessKey(reader.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	// Keys survive a restart of the state.
	h.reopen(t)
	if k, err := h.s.AccessKey(admin.ID); err != nil || k.Role != RoleWrite {
		t.Fatalf("after reopen %+v, %v", k, err)
	}
}
