package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cairn/cas"
	"cairn/client"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/raftfsm"
)

// Errors of the peer protocol itself.
var (
	// ErrNoRoute is a peer that does not know a route: an older version,
	// during a rolling upgrade.
	ErrNoRoute = errors.New("cluster: the peer does not know this route")
)

// wireErrors are the errors, besides raftfsm's (which have codes of their
// own), that a node answers a peer with and the peer rebuilds.
var wireErrors = []struct {
	err  error
	code string
}{
	{cas.ErrNotFound, "NoSuchChunk"},
	{cas.ErrDigestMismatch, "BadDigest"},
	{cas.ErrCorrupt, "CorruptChunk"},
	{cas.ErrNoSpace, "InsufficientStorage"},
	{cas.ErrTooLarge, "ChunkTooLarge"},
	{cas.ErrClosed, "StoreClosed"},
	{cas.ErrFailed, "StoreFailed"},
	{ErrNoRoute, "NoSuchRoute"},
	{context.DeadlineExceeded, "DeadlineExceeded"},
	{context.Canceled, "Canceled"},
}

// wireCode returns the code err travels under: raftfsm's code, one of
// wireErrors', a request error's own, or InternalError.
func wireCode(err error) string {
	if c := raftfsm.Code(err); c != "" {
		return c
	}
	for _, w := range wireErrors {
		if errors.Is(err, w.err) {
			return w.code
		}
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return "InternalError"
}

// writeError is the peer protocol's one way of answering with an error:
// the status a user-facing surface would give, and the error's wire code.
func writeError(w http.ResponseWriter, err error) {
	httpx.WriteJSON(w, apierr.Classify(err).Status, client.Error{Code: wireCode(err), Message: err.Error()})
}

// decodeError rebuilds the error a peer answered with: the sentinel its
// code stands for, carrying the peer's message. An answer of an older
// node that wrote the sentinel's text under another code is recognised by
// that text.
func decodeError(status int, e client.Error) error {
	if err := raftfsm.FromCode(e.Code, e.Message); raftfsm.Code(err) != "" {
		return err
	}
	for _, w := range wireErrors {
		if w.code == e.Code {
			return remote(w.err, e.Message)
		}
	}
	for _, known := range raftfsm.Errors() {
		if strings.HasPrefix(e.Message, known.Error()) {
			return remote(known, e.Message)
		}
	}
	return fmt.Errorf("peer answered %d %s: %s", status, e.Code, e.Message)
}

// remoteError is a sentinel as another node reported it.
type remoteError struct {
	base error
	msg  string
}

func remote(base error, msg string) error {
	if msg == "" || msg == base.Error() {
		return base
	}
	return &remoteError{base: base, msg: msg}
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.base }
