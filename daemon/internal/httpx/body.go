package httpx

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"cairn/daemon/internal/apierr"
)

// ErrBodyStalled is a request body that stopped making progress: it was
// cut, and the request fails.
var ErrBodyStalled = apierr.Sentinel(http.StatusBadRequest, "RequestTimeout", "the request body made no progress: cut")

// progressBytes is how much of a body must arrive in each period of the
// guard's timeout: a body that trickles less is cut like one that stopped.
const progressBytes = 1 << 10

// GuardBody cuts r's body when it makes no progress: it must deliver
// progressBytes within every timeout, or the connection's read deadline
// passes and the body fails with ErrBodyStalled. A client that sends one
// byte every few seconds holds a connection (and an upload's buffers) no
// longer than one that sends nothing. It returns a function that lifts the
// deadline, to call when the handler is done with the body.
func GuardBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) (done func()) {
	if r.Body == nil || r.Body == http.NoBody || timeout <= 0 {
		return func() {}
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(timeout)) != nil {
		return func() {} // the connection cannot take deadlines (a test recorder)
	}
	r.Body = &guardedBody{rc: rc, body: r.Body, timeout: timeout}
	return func() { rc.SetReadDeadline(time.Time{}) }
}

type guardedBody struct {
	rc      *http.ResponseController
	body    io.ReadCloser
	timeout time.Duration
	got     int // bytes since the deadline was last moved
}

func (g *guardedBody) Read(p []byte) (int, error) {
	n, err := g.body.Read(p)
	if g.got += n; g.got >= progressBytes {
		g.got = 0
		g.rc.SetReadDeadline(time.Now().Add(g.timeout))
	}
	if err == io.EOF {
		// The whole body is in: lift the deadline at once, for the server
		// then watches the idle connection to learn that a client went
		// away, and a deadline passing there would cancel a request still
		// at work (committing a large write, say).
		g.rc.SetReadDeadline(time.Time{})
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: less than %d bytes in %v", ErrBodyStalled, progressBytes, g.timeout)
	}
	return n, err
}

func (g *guardedBody) Close() error { return g.body.Close() }
