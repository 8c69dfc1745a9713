// Package cli is the cairn command line, apart from cairn serve, which the
// main package runs itself. Run takes one command line and an Env, so
// tests drive it in-process with buffers.
//
// # Exit codes
//
// Run returns an error whose ExitCode method gives the process exit code:
//
//	0  success
//	1  error (network, server, local files)
//	2  usage: unknown command, bad flags or arguments
//	3  not found: no such key, bucket, run, model or chunk
//	4  verification failed: a digest mismatch (cairn verify found a
//	   difference, or a downloaded chunk or file did not hash to its name)
//	5  unknown outcome: a change that cannot be safely retried was sent
//	   and its answer lost; check before retrying
//
// # Configuration
//
// The endpoints, the token (an access key as id:secret) and the CA
// certificate come from flags, then the environment (CAIRN_ENDPOINT, a
// comma-separated list, CAIRN_TOKEN, CAIRN_CACERT), then a YAML file
// (--config, CAIRN_CONFIG, or $XDG_CONFIG_HOME/cairn/config.yaml), in that
// order of precedence. The default endpoint is http://127.0.0.1:8700.
//
// It knows flags, terminals and the client library; it must not know the
// daemon, the stores or Raft.
package cli
