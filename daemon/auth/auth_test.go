package auth

import (
	"errors"
	"testing"
)

func TestIdentity_Require(t *testing.T) {
	admin := Identity{Key: "a", Role: Admin}
	writer := Identity{Key: "w", Role: Write}
	scoped := Identity{Key: "s", Role: Write, Buckets: []string{"models"}}
	anon := Identity{}
	anonRead := Identity{Role: Read}
	for _, c := range []struct {
		name   string
		id     Identity
		need   Role
		bucket string
		want   error
	}{
		{"AdminAnything", admin, Admin, "", nil},
		{"WriterWrites", writer, Write, "data", nil},
		{"WriterReads", writer, Read, "data", nil},
		{"WriterNotAdmin", writer, Admin, "", ErrForbidden},
		{"ScopedOwnBucket", scoped, Write, "models", nil},
		{"ScopedOtherBucket", scoped, Read, "data", ErrForbidden},
		{"ScopedCluster", scoped, Read, "", ErrForbidden},
		{"AnonymousNothing", anon, Read, "data", ErrUnauthenticated},
		{"AnonymousReadOpen", anonRead, Read, "data", nil},
		{"AnonymousReadNoWrite", anonRead, Write, "data", ErrUnauthenticated},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.id.Require(c.need, c.bucket)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Require(%v, %q) = %v, want %v", c.need, c.bucket, err, c.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for s, want := range map[string]Role{"read": Read, "WRITE": Write, "admin": Admin, "": None, "none": None} {
		if got, err := ParseRole(s); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("ParseRole(root) succeeded")
	}
}

// TestSealer opens what it sealed, and nothing sealed under another
// cluster secret or for another key.
func TestSealer(t *testing.T) {
	s := NewSealer("cluster secret")
	sealed := s.Seal("CKAAA", "the secret")
	if got, err := s.Open("CKAAA", sealed); err != nil || got != "the secret" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if again := s.Seal("CKAAA", "the secret"); string(again) == string(sealed) {
		t.Fatal("two seals of one secret are equal: the nonce is not fresh")
	}
	if _, err := NewSealer("another secret").Open("CKAAA", sealed); err == nil {
		t.Fatal("opened under another cluster secret")
	}
	if _, err := s.Open("CKBBB", sealed); err == nil {
		t.Fatal("opened as another key")
	}
	if _, err := s.Open("CKAAA", sealed[:5]); err == nil {
		t.Fatal("opened a truncated seal")
	}
}

func TestNewKey(t *testing.T) {
	id, secret := NewKey()
	id2, secret2 := NewKey()
	if len(id) != 20 || len(secret) != 40 || id == id2 || secret == secret2 {
		t.Fatalf("keys %q %q, %q %q", id, secret, id2, secret2)
	}
}
