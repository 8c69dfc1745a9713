package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// firstListenFD is the first descriptor a service manager hands over.
const firstListenFD = 3

// inheritedListeners takes the sockets a service manager (systemd, or a
// test) opened for this process, by systemd's socket activation protocol:
// LISTEN_PID is this process's id, LISTEN_FDS how many descriptors follow
// from 3 on, and LISTEN_FDNAMES their names, "http" and "cluster"
// (FileDescriptorName= in a socket unit). It returns nil listeners when
// none were handed over, and unsets the variables so that children do not
// inherit them.
func inheritedListeners() (httpLn, clusterLn net.Listener, err error) {
	pid, fds, names := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	if pid == "" || fds == "" {
		return nil, nil, nil
	}
	if pid != strconv.Itoa(os.Getpid()) {
		return nil, nil, nil // meant for another process
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 1 {
		return nil, nil, fmt.Errorf("LISTEN_FDS=%q: want a count of descriptors", fds)
	}
	named := strings.Split(names, ":")
	for i := range n {
		name := ""
		if i < len(named) {
			name = named[i]
		}
		f := os.NewFile(uintptr(firstListenFD+i), name)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("inherited socket %d (%q): %w", firstListenFD+i, name, err)
		}
		switch name {
		case "http":
			httpLn = ln
		case "cluster":
			clusterLn = ln
		default:
			ln.Close()
			return nil, nil, fmt.Errorf("inherited socket %d is named %q; name them http and cluster in LISTEN_FDNAMES", firstListenFD+i, name)
		}
	}
	return httpLn, clusterLn, nil
}
