// Package auth decides who a request is and what it may do.
//
// # Access keys
//
// An access key (raftfsm.AccessKey) is an id, a secret and a role (read,
// write or admin, each including the ones before it), optionally limited
// to a list of buckets. Keys live in the replicated state, so every node
// accepts every key. The same key works on every surface: S3 signs with
// it (SigV4), the native API and MLflow's API send it as HTTP Basic
// credentials (id and secret) or as a bearer token "id:secret".
//
// # Sealed secrets
//
// SigV4 needs the secret itself on the server, so secrets cannot be
// stored hashed: the state holds them sealed with AES-256-GCM under a key
// derived from the cluster secret (Sealer), which every node holds and no
// snapshot or backup contains.
//
// # Authorization
//
// Each surface authenticates a request (Keys.Authenticate, or SigV4 with
// Keys.Secret) and then asks the Identity whether it may act on a bucket
// with a role (Identity.Require). A request without credentials gets the
// anonymous identity, whose role is none unless the operator opened reads
// or everything on purpose.
//
// It knows HTTP credentials, roles and the state's key table; it must not
// know the surfaces' routes or wire forms.
package auth
