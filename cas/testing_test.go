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
	return testStore(tb, dir, Options{})
}

// testStore opens a Store in dir with opts, logging to the test, and
// closes it when the test ends.
func testStore(tb testing.TB, dir string, opts Options) *Store {
	tb.Helper()
	opts.Logger = testLogger(tb)
	s, err := Open(dir, opts)
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
