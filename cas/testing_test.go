package cas

import (
	"log/slog"
	"testing"
)

// newTestStore opens a Store in a temporary folder that is removed when the
// test ends, logging to the test's output.
func newTestStore(tb testing.TB) *Store {
	tb.Helper()
	return newTestStoreAt(tb, tb.TempDir())
}

// newTestStoreAt opens a Store in dir and closes it when the test ends.
func newTestStoreAt(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(dir, Options{Logger: testLogger(tb)})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// testLogger returns a logger that writes warnings and errors to the
// test's output.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
