// Command cairn runs a cairn node (cairn serve) and talks to one (every
// other subcommand). See cairn help.
//
// It parses flags, the environment and the configuration file, and runs
// the daemon or the CLI; it holds no logic of its own.
package main
