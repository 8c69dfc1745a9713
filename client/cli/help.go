package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// action runs a command with its positional arguments.
type action func(ctx context.Context, s *session, args []string) error

// command is one cairn subcommand.
type command struct {
	name     string
	aliases  []string
	synopsis string // arguments, as in "put <path> <bucket>[/<key>]"
	summary  string // one line for the overview
	detail   string // paragraphs for --help
	example  string
	minArgs  int
	maxArgs  int // -1: any number
	// flags declares the command's own flags on fs and returns its action.
	flags func(fs *flag.FlagSet) action
}

// commands lists the subcommands in the order cairn help shows them.
func commands() []*command {
	return []*command{
		putCommand(), logModelCommand(), getCommand(), lsCommand(), statCommand(), rmCommand(),
		verifyCommand(), modelsCommand(), runsCommand(), duCommand(), resolveCommand(),
		bucketsCommand(), mbCommand(), rbCommand(), clusterCommand(), adminCommand(), backupCommand(), importCommand(),
		keyCommand(), versionCommand(),
	}
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
		for _, a := range c.aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

const exitCodesHelp = `Exit codes:
  0  success
  1  error (network, server, local files)
  2  usage: unknown command, bad flags or arguments
  3  not found: no such key, bucket, run, model or chunk
  4  verification failed: digests differ (verify), a downloaded chunk or
     file did not hash to its digest, or a backup does not check out
  5  unknown outcome: a change that is not safe to retry was sent and its
     answer lost; check its effect before trying again
`

const configHelp = `Configuration, by precedence: flags, then the environment (CAIRN_ENDPOINT,
a comma-separated list; CAIRN_TOKEN, an access key as id:secret;
CAIRN_CACERT), then a YAML file (--config, CAIRN_CONFIG, default
$XDG_CONFIG_HOME/cairn/config.yaml) with the keys endpoints (a list),
endpoint, token, cacert and parallelism. The default endpoint is
http://127.0.0.1:8700. With several endpoints, a call fails over to the
next one when a node is down or unavailable. A node's first admin key is
in admin-key in its data folder.
`

// overview prints the list of commands.
func (s *session) overview(w io.Writer) {
	fmt.Fprintf(w, "cairn %s: a replicated, content-addressed artifact store for MLflow.\n\n", s.env.Version)
	fmt.Fprintln(w, "Usage: cairn [global flags] <command> [flags] [arguments]")
	fmt.Fprintln(w, "\nCommands:")
	fmt.Fprintf(w, "  %-13s %s\n", "serve", "run a node (cairn serve -h lists its flags)")
	for _, c := range commands() {
		name := c.name
		if len(c.aliases) > 0 {
			name += ", " + strings.Join(c.aliases, ", ")
		}
		fmt.Fprintf(w, "  %-13s %s\n", name, c.summary)
	}
	fmt.Fprintf(w, "  %-13s %s\n", "help", "show help for a command: cairn help <command>")
	fmt.Fprintln(w, "\nGlobal flags (also accepted after the command):")
	fs := s.newFlagSet("cairn")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w)
	fmt.Fprint(w, configHelp)
	fmt.Fprintln(w)
	fmt.Fprint(w, exitCodesHelp)
}

// help answers cairn help [command].
func (s *session) help(args []string) error {
	if len(args) == 0 {
		s.overview(s.env.Stdout)
		return nil
	}
	cmd := lookup(args[0])
	if cmd == nil {
		return usagef("unknown command %q (cairn help lists them)", args[0])
	}
	fs := s.newFlagSet(cmd.name)
	cmd.flags(fs)
	s.commandHelp(s.env.Stdout, cmd, fs)
	return nil
}

// commandHelp prints a command's usage, description, flags and example.
func (s *session) commandHelp(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: cairn %s [flags]", cmd.name)
	if cmd.synopsis != "" {
		fmt.Fprintf(w, " %s", cmd.synopsis)
	}
	fmt.Fprintf(w, "\n\n%s\n", cmd.summary)
	if cmd.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.detail))
	}
	if len(cmd.aliases) > 0 {
		fmt.Fprintf(w, "\nAliases: %s\n", strings.Join(cmd.aliases, ", "))
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprintf(w, "\nExample:\n%s\n", indent(strings.TrimSpace(cmd.example)))
	fmt.Fprintf(w, "\nExit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 verification failed, 5 unknown outcome (cairn help).\n")
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
