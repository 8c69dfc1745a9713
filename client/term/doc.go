// Package term draws for people at a terminal: whether a writer is one,
// byte counts in binary units, and a progress bar with throughput and ETA.
// The CLI's transfers and the bench's phases use it.
//
// It knows terminals; it must not know what it draws progress for.
package term
