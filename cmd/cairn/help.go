package main

import (
	"fmt"
	"io"
	"strings"
)

const serveIntro = `Usage: cairn serve [flags]

Runs a cairn node: S3, MLflow's artifact API and the native API on the HTTP
port; Raft and the peer protocol on the cluster port. The first start of a
node alone makes a one-node cluster, its cluster secret and its first admin
key (printed once).

Every setting is a flag, an environment variable and a key of the YAML file
named by --config. A flag wins over the environment, which wins over the
file, which wins over the default. A true-or-false flag is turned off with
--flag=false. Durations take a unit (30s, 10m, 1h); sizes are bytes, or take
a unit (64MiB, 1GiB). Secrets are never printed.
`

// serveHelp writes cairn serve --help: every setting with its flag, its
// variable, its key and its default.
func serveHelp(w io.Writer, table []setting) {
	fmt.Fprint(w, serveIntro)
	fmt.Fprintln(w, "\nSettings:")
	for _, s := range table {
		names := "env " + s.Env
		if s.Key != "" {
			names += ", yaml " + s.Key
		}
		switch {
		case s.Default != "":
			names += ", default " + s.Default
		case s.DefaultText != "":
			names += ", default: " + s.DefaultText
		}
		fmt.Fprintf(w, "  --%s %s\n        %s\n", s.Flag, s.value.kind(), names)
		for _, line := range wrap(s.Help, 70) {
			fmt.Fprintf(w, "        %s\n", line)
		}
	}
	fmt.Fprint(w, "\nExit codes: 0 after a clean shutdown (SIGTERM or SIGINT) or --help; 1 when\nthe configuration is invalid or a store or port cannot be opened.\n")
}

// wrap breaks text into lines of at most width characters, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// Markers of the settings table in docs/operations.md.
const (
	docTableBegin = "<!-- settings table: written by `go generate ./cmd/cairn` from cmd/cairn/settings.go; do not edit -->"
	docTableEnd   = "<!-- end of settings table -->"
)

// docTable is the settings table of docs/operations.md, in Markdown.
func docTable(table []setting) string {
	var b strings.Builder
	fmt.Fprintln(&b, docTableBegin)
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| YAML key | flag | environment | type | default | what it sets |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|")
	for _, s := range table {
		key := "(none)"
		if s.Key != "" {
			key = "`" + s.Key + "`"
		}
		def := ""
		switch {
		case s.Default != "":
			def = "`" + s.Default + "`"
		case s.DefaultText != "":
			def = s.DefaultText
		}
		fmt.Fprintf(&b, "| %s | `--%s` | `%s` | %s | %s | %s |\n", key, s.Flag, s.Env,
			strings.ReplaceAll(s.value.kind(), "|", `\|`), def, strings.ReplaceAll(s.Help, "|", `\|`))
	}
	fmt.Fprintln(&b)
	fmt.Fprint(&b, docTableEnd)
	return b.String()
}
