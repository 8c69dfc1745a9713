// Package cli is the cairn command line, apart from cairn serve.
package cli

import (
	"context"
	"fmt"
	"io"
)

// Env is what a command sees of its process.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string
	Version        string
}

// Run runs one command line (without the program name).
func Run(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stdout, "usage: cairn serve [flags]   (cairn serve -h lists them)")
		return nil
	}
	if args[0] == "version" {
		fmt.Fprintln(env.Stdout, "cairn", env.Version)
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}
