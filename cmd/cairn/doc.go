// Command cairn runs a cairn node (cairn serve) and talks to one (every
// other subcommand). See cairn help.
//
// It parses flags, the environment and the configuration file, and runs
// the daemon or the CLI; it holds no logic of its own.
//
// # Settings
//
// Every setting of cairn serve is declared once, in settings.go: its YAML
// key, its flag, its environment variable, its default, its help, its
// type and where it lands in daemon.Config. The loader (load.go) takes
// each from its flag, else its variable, else the file, else its default;
// the same table writes cairn serve --help and the settings table of
// docs/operations.md (go generate ./cmd/cairn; a test holds the two
// equal).
//
// # Sockets
//
// Under systemd, the node may get its ports from the service manager
// (listen.go): socket units in deploy/ name them http and cluster.
package main
