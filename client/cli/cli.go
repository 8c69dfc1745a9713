package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"cairn/client"
)

// Exit codes of Run; see the package documentation.
const (
	ExitOK             = 0
	ExitError          = 1
	ExitUsage          = 2
	ExitNotFound       = 3
	ExitMismatch       = 4
	ExitUnknownOutcome = 5
)

// Env is what a command sees of its process.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	// Getenv reads the environment (nil: an empty environment).
	Getenv  func(string) string
	Version string
	// HTTPClient, if set, sends the client's requests (for tests).
	HTTPClient *http.Client
}

// Error is a failed command: the error and the exit code it maps to.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode returns the process exit code.
func (e *Error) ExitCode() int { return e.Code }

// errUsage marks errors in the command line itself.
var errUsage = errors.New("usage")

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// exitCode maps an error to its exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errUsage):
		return ExitUsage
	case errors.Is(err, client.ErrUnknownOutcome):
		return ExitUnknownOutcome
	case errors.Is(err, client.ErrDigestMismatch), errors.Is(err, errDiffers), errors.Is(err, errBackupBad), errors.Is(err, client.ErrBadBackup):
		return ExitMismatch
	case errors.Is(err, client.ErrNotFound):
		return ExitNotFound
	}
	return ExitError
}

// Run runs one command line (without the program name). It returns nil
// or an *Error with the exit code; the caller prints the error.
func Run(ctx context.Context, args []string, env Env) error {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	s := &session{env: env}
	err := s.run(ctx, args)
	if s.c != nil {
		s.c.CloseIdleConnections()
	}
	if err == nil {
		return nil
	}
	code := exitCode(err)
	if s.global.json && code != ExitUsage {
		s.printJSON(jsonError{Error: err.Error(), Exit: code, Code: apiCode(err)})
	}
	return &Error{Code: code, Err: err}
}

type jsonError struct {
	Error string `json:"error"`
	Exit  int    `json:"exit_code"`
	Code  string `json:"code,omitempty"`
}

func apiCode(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// run parses the global flags and the command name, then runs it.
func (s *session) run(ctx context.Context, args []string) error {
	fs := s.newFlagSet("cairn")
	version := fs.Bool("version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, errHelp) {
			s.overview(s.env.Stdout)
			return nil
		}
		return usagef("%v", err)
	}
	args = fs.Args()
	if *version {
		args = []string{"version"}
	}
	if len(args) == 0 {
		s.overview(s.env.Stderr)
		return usagef("no command given")
	}
	name, rest := args[0], args[1:]
	if name == "help" {
		return s.help(rest)
	}
	cmd := lookup(name)
	if cmd == nil {
		return usagef("unknown command %q (cairn help lists them)", name)
	}
	return s.runCommand(ctx, cmd, rest)
}

func (s *session) runCommand(ctx context.Context, cmd *command, args []string) error {
	fs := s.newFlagSet(cmd.name)
	act := cmd.flags(fs)
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, errHelp) {
		s.commandHelp(s.env.Stdout, cmd, fs)
		return nil
	}
	if err != nil {
		return usagef("%s: %v (cairn %s --help)", cmd.name, err, cmd.name)
	}
	if len(pos) < cmd.minArgs || (cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs) {
		return usagef("%s: want %s (cairn %s --help)", cmd.name, cmd.synopsis, cmd.name)
	}
	if err := s.configure(); err != nil {
		return err
	}
	return act(ctx, s, pos)
}
