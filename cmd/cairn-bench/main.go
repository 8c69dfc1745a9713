package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"cairn/bench/load"
	"cairn/bench/scale"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := load.Main
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "scale" {
		run, args = scale.Main, args[1:]
	}
	if err := run(ctx, args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cairn-bench:", err)
		os.Exit(1)
	}
}
