// Command bench measures cairn against other stores with an MLflow-shaped
// workload; see package cairn/bench/load. Run it as go run ./bench or
// cairn bench.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"cairn/bench/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := load.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
