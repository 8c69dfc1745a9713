package raftfsm

import (
	"errors"
	"fmt"
)

// Errors that Apply returns in a Result when the state rejects a command.
// A rejected command changes nothing. Each has a stable code (see Code) so
// that a follower that forwarded the command gets the same error back.
var (
	ErrNotLeader = errors.New("raftfsm: not the leader")
	// ErrNoLeader means this node knows of no leader to send a command
	// or a question to: an election is under way, or the node is cut off.
	ErrNoLeader           = errors.New("raftfsm: no leader")
	ErrNoSuchBucket       = errors.New("raftfsm: no such bucket")
	ErrBucketExists       = errors.New("raftfsm: bucket already exists")
	ErrBucketNotEmpty     = errors.New("raftfsm: bucket not empty")
	ErrNotFound           = errors.New("raftfsm: not found")
	ErrPreconditionFailed = errors.New("raftfsm: precondition failed")
	ErrConflict           = errors.New("raftfsm: version conflict")
	ErrNoSuchUpload       = errors.New("raftfsm: no such upload")
	ErrInvalidPart        = errors.New("raftfsm: invalid part")
	ErrInvalidCommand     = errors.New("raftfsm: invalid command")
	ErrTooLarge           = errors.New("raftfsm: too large")
	ErrTooSmall           = errors.New("raftfsm: part too small")
	ErrClosed             = errors.New("raftfsm: closed")
	// ErrUnknownOutcome means a command was handed to Raft but this node
	// cannot tell whether it committed (leadership was lost, or the wait
	// timed out): it may or may not have been applied.
	ErrUnknownOutcome = errors.New("raftfsm: outcome unknown")
)

var codes = map[error]string{
	ErrNotLeader:          "NotLeader",
	ErrNoLeader:           "NoLeader",
	ErrNoSuchBucket:       "NoSuchBucket",
	ErrBucketExists:       "BucketAlreadyExists",
	ErrBucketNotEmpty:     "BucketNotEmpty",
	ErrNotFound:           "NotFound",
	ErrPreconditionFailed: "PreconditionFailed",
	ErrConflict:           "Conflict",
	ErrNoSuchUpload:       "NoSuchUpload",
	ErrInvalidPart:        "InvalidPart",
	ErrInvalidCommand:     "InvalidCommand",
	ErrTooLarge:           "TooLarge",
	ErrTooSmall:           "TooSmall",
	ErrClosed:             "Closed",
	ErrUnknownOutcome:     "UnknownOutcome",
	ErrFailed:             "Failed",
}

// Errors returns every error that has a code, for the codecs that carry
// them between nodes and their tests.
func Errors() []error {
	out := make([]error, 0, len(codes))
	for e := range codes {
		out = append(out, e)
	}
	return out
}

// Code returns the stable code of one of the package's errors, or "" for
// any other error.
func Code(err error) string {
	for e, c := range codes {
		if errors.Is(err, e) {
			return c
		}
	}
	return ""
}

// FromCode rebuilds an error from its code and message, as received from
// another node; unknown codes give a plain error with the message.
func FromCode(code, msg string) error {
	for e, c := range codes {
		if c == code {
			if msg == "" || msg == e.Error() {
				return e
			}
			return &remoteError{base: e, msg: msg}
		}
	}
	return errors.New(msg)
}

type remoteError struct {
	base error
	msg  string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.base }

func rejectf(base error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", base, fmt.Sprintf(format, args...))
}
