package term

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIsTerminal(t *testing.T) {
	var buf bytes.Buffer
	if IsTerminal(&buf) {
		t.Fatal("a buffer taken for a terminal")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Fatal("a regular file taken for a terminal")
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// syncBuffer is a bytes.Buffer the bar's goroutine and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBar draws a bar counting files: it ends at 100% with the unit's
// rate and a newline; a bar stopped before its delay draws nothing.
func TestBar(t *testing.T) {
	out := newSyncBuffer()
	b := NewBar(out, "log", "files", 0)
	b.Grow(4)
	b.Advance(1)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), " 25%"); {
		if time.Now().After(deadline) {
			t.Fatalf("no drawing at a quarter: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Advance(3)
	b.Stop()
	b.Stop()
	got := out.String()
	last := got[strings.LastIndex(got, "\r")+1:]
	if !strings.HasPrefix(last, "log [") || !strings.Contains(last, "100%") || !strings.Contains(last, "files/s") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("last drawing %q", last)
	}

	quiet := newSyncBuffer()
	b = NewBar(quiet, "short", "", time.Hour)
	b.Grow(10)
	b.Advance(10)
	b.Stop()
	if quiet.String() != "" {
		t.Fatalf("a bar shorter than its delay drew %q", quiet.String())
	}
}
