package auth

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"cairn/daemon/internal/apierr"
	"cairn/raftfsm"
)

// Role is what an identity may do; each includes the ones before it.
type Role int

const (
	None  Role = iota // nothing
	Read              // read objects, list, resolve, query the indexes
	Write             // Read, and write and delete objects, buckets, uploads and refs
	Admin             // Write, and backup, restore, GC, scrub, membership and keys
)

// ParseRole parses read, write or admin ("none" too, for the anonymous
// role).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return None, nil
	case raftfsm.RoleRead:
		return Read, nil
	case raftfsm.RoleWrite:
		return Write, nil
	case raftfsm.RoleAdmin:
		return Admin, nil
	}
	return None, fmt.Errorf("role %q: want read, write or admin", s)
}

func (r Role) String() string {
	switch r {
	case Read:
		return raftfsm.RoleRead
	case Write:
		return raftfsm.RoleWrite
	case Admin:
		return raftfsm.RoleAdmin
	}
	return "none"
}

// Errors of authentication and authorization. They are apierr sentinels;
// S3 answers both as 403 AccessDenied, as AWS does.
var (
	// ErrUnauthenticated is a request with no credentials, or with
	// credentials that do not check out.
	ErrUnauthenticated = apierr.Sentinel(http.StatusUnauthorized, "Unauthorized", "auth: missing or wrong credentials")
	// ErrForbidden is an authenticated request its key may not make.
	ErrForbidden = apierr.Sentinel(http.StatusForbidden, "AccessDenied", "auth: access denied")
)

// Identity is who made a request.
type Identity struct {
	Key     string // access key id; "" for a request without credentials
	Role    Role
	Buckets []string // the buckets the key is limited to; none: every bucket
}

// Anonymous reports whether the request carried no credentials.
func (id Identity) Anonymous() bool { return id.Key == "" }

// Scoped reports whether the key is limited to some buckets.
func (id Identity) Scoped() bool { return len(id.Buckets) > 0 }

// InBucket reports whether the identity may touch bucket at all.
func (id Identity) InBucket(bucket string) bool {
	return !id.Scoped() || slices.Contains(id.Buckets, bucket)
}

// Require returns nil when the identity may do what needs role need on
// bucket, and ErrForbidden (or ErrUnauthenticated, for a request without
// credentials) otherwise. bucket "" is the whole cluster: a key limited to
// some buckets may not act there.
func (id Identity) Require(need Role, bucket string) error {
	deny := ErrForbidden
	if id.Anonymous() {
		deny = ErrUnauthenticated
	}
	if id.Role < need {
		return fmt.Errorf("%w: %s needs the %s role", deny, id.describe(), need)
	}
	if bucket == "" && id.Scoped() {
		return fmt.Errorf("%w: %s is limited to buckets %s", deny, id.describe(), strings.Join(id.Buckets, ", "))
	}
	if !id.InBucket(bucket) {
		return fmt.Errorf("%w: %s may not use bucket %s", deny, id.describe(), bucket)
	}
	return nil
}

// RequireRole is Require for an action on no bucket in particular whose
// results the caller limits to the identity's buckets itself (listing
// buckets, say).
func (id Identity) RequireRole(need Role) error {
	if id.Scoped() {
		return id.Require(need, id.Buckets[0])
	}
	return id.Require(need, "")
}

func (id Identity) describe() string {
	if id.Anonymous() {
		return "a request without credentials"
	}
	return "access key " + id.Key
}
