// Command cairn-bench measures cairn against other stores with an
// MLflow-shaped workload; see package cairn/bench/load. It is a command of
// its own so that the server binary does not link the S3 SDK the
// benchmark drives other stores with.
//
// It parses nothing itself: package load does; it holds no logic of its
// own.
package main
