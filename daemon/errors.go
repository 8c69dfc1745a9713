package daemon

import "fmt"

// ListenError is a port New could not listen on. Port is "http" or
// "cluster", so that the caller can say which setting to change.
type ListenError struct {
	Port string
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("listen on %s address %s: %v", e.Port, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }
