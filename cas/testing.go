package cas

import (
	"log/slog"
	"testing"
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
	s, err := Open(dir, Options{Logger: TestLogger(tb)})
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
