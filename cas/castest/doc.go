// Package castest damages a chunk store the way a bug or a bad disk could,
// for the tests of the layers above cas. It writes to the store's Badger
// folder directly, through the key layout of docs/format.md, so the store
// must be closed; nothing but tests may import it.
//
// It knows Badger and the store's key layout; production code must not
// import it.
package castest
