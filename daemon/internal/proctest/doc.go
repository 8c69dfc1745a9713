// Package proctest starts cairn processes for tests on sockets the test
// opened itself: it listens on free loopback ports and hands the sockets
// to the process by systemd's socket activation protocol (LISTEN_PID,
// LISTEN_FDS, LISTEN_FDNAMES), so no port is chosen by closing a listener
// and hoping nobody takes it before the process does. Nothing but tests
// may import it.
//
// It knows os/exec and net; production code must not import it.
package proctest
