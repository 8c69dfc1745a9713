package castest

import (
	"testing"

	"cairn/cas/chunk"

	"github.com/dgraph-io/badger/v4"
)

// Replace overwrites the stored form of chunk d in the closed store at dir
// with stored, unchecked: once the store reopens, it holds a value that
// does not match its digest.
func Replace(tb testing.TB, dir string, d chunk.Digest, stored []byte) {
	tb.Helper()
	opts := badger.DefaultOptions(dir).WithLogger(nil).WithLoggingLevel(badger.ERROR)
	db, err := badger.Open(opts)
	if err != nil {
		tb.Fatalf("open chunk store %s: %v", dir, err)
	}
	key := append([]byte{'c'}, d[:]...)
	err = db.Update(func(txn *badger.Txn) error { return txn.Set(key, stored) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("replace chunk %s: %v", d.Short(), err)
	}
}
