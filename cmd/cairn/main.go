package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"cairn/client/cli"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args := os.Args[1:]; {
	case len(args) > 0 && args[0] == "serve":
		err = serve(ctx, args[1:], os.Stdout)
	case len(args) == 2 && args[0] == "help" && args[1] == "serve":
		err = serve(ctx, []string{"--help"}, os.Stdout)
	default:
		err = cli.Run(ctx, args, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Getenv: os.Getenv, Version: version})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cairn:", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
