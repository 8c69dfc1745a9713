//go:build unix

package main

import "syscall"

// privateFiles makes every file the node creates (the stores, the Raft
// log, snapshots, keys) readable by its own user only.
func privateFiles() { syscall.Umask(0o077) }
