package cas

import (
	"log/slog"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestStore opens a Store in a temporary folder that is removed when the
// test ends, logging to the test's output.
func TestStore(tb testing.TB) *Store {
	tb.Helper()
	return TestStoreAt(tb, tb.TempDir())
}

// TestStoreAt opens a Store in dir and closes it when the test ends.
func TestStoreAt(tb testing.TB, dir string) *Store {
	tb.Helper()
	return testStore(tb, dir, Options{})
}

// testStore opens a Store in dir with opts, logging to the test, and
// closes it when the test ends.
func testStore(tb testing.TB, dir string, opts Options) *Store {
	tb.Helper()
	opts.Logger = TestLogger(tb)
	s, err := Open(dir, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestLogger returns a logger that writes warnings and errors to the
// test's output.
func TestLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// ReplaceForTest overwrites the stored form of chunk d with raw bytes,
// unchecked, the way a bug or a bad disk could, so that tests of the
// layers above can watch a store hand out a chunk that does not match its
// digest. Nothing but tests may call it.
func (s *Store) ReplaceForTest(tb testing.TB, d Digest, stored []byte) {
	tb.Helper()
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(chunkKey(d), stored) })
	if err != nil {
		tb.Fatalf("replace chunk %s: %v", d.Short(), err)
	}
}
