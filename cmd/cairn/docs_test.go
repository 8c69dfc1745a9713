package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the settings table of docs/operations.md")

// TestSettings_Doc: the settings table of docs/operations.md is the one
// the code makes; `go generate ./cmd/cairn` (this test with -update)
// writes it.
func TestSettings_Doc(t *testing.T) {
	path := filepath.Join(repoRoot, "docs", "operations.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	begin, end := strings.Index(doc, docTableBegin), strings.Index(doc, docTableEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s has no settings table between %q and %q", path, docTableBegin, docTableEnd)
	}
	got, want := doc[begin:end+len(docTableEnd)], docTable(settings())
	if got == want {
		return
	}
	if !*updateDocs {
		t.Fatalf("the settings table of %s differs from the code's; run go generate ./cmd/cairn. The code's:\n%s", path, want)
	}
	if err := os.WriteFile(path, []byte(doc[:begin]+want+doc[end+len(docTableEnd):]), 0o644); err != nil {
		t.Fatal(err)
	}
}
