// Package client is the Go client of cairn's native /v1 API, and holds the
// JSON wire types that the daemon shares with it. It imports nothing of
// cairn but the leaf format package cas/chunk (and S2, to compress what it
// uploads), so a program that logs artifacts does not pull in the store,
// Raft or Badger.
//
// # Put
//
// A Put reads the content once: it chunks and hashes it locally, exactly
// as the server would (chunk.DefaultParams), into batches of about 4 MiB;
// for each batch it asks the server which chunks it lacks and uploads
// those in one request, compressed with S2 where that pays (the form the
// node keeps new chunks in), while the next batch is cut. Then it commits
// the key with the file's digest and recipe. Logging content the cluster
// already holds sends no chunk at all; logging a retrained model sends
// only the chunks that changed. PutStats report the bytes logged next to
// the bytes sent.
//
// # Get
//
// A Get reads the object's recipe, fetches its chunks in parallel, in
// requests of about 1 MiB of chunks (POST /v1/chunks/fetch; chunks the
// node stores in S2 come as stored, and the client decodes them),
// verifies each against its BLAKE3 digest before writing it at its
// offset into a partial file, checks the whole file's digest, syncs it
// and renames it into place. Nothing unverified reaches the destination. An
// interrupted Get leaves the partial file, and the next Get to the same
// destination verifies the chunks it holds and fetches only the rest.
// GetRange fetches only the chunks a byte range covers.
//
// # URIs
//
// Get and Resolve accept MLflow's runs:/<run_id>/<path> and
// models:/<model_id>[/<path>], as well as s3://<bucket>/<key> and
// <bucket>/<key>. The server resolves runs and models from the MLflow
// artifact layout of the keys it holds.
//
// # Failover and retries
//
// A Client knows several endpoints. A call that reaches no node, or that a
// node refuses (503, 429), goes to the next endpoint; after a round over
// all of them the client waits (exponential backoff with full jitter, and
// at least what Retry-After asks) and tries again. Calls that are safe to
// repeat (reads, chunk uploads, missing-chunk questions, unconditional
// commits) are also retried when their outcome is unknown. Any other call
// whose outcome is unknown is returned as an error matching
// ErrUnknownOutcome and never repeated behind the caller's back.
//
// # Errors
//
// Error answers are *APIError values, which errors.Is matches against the
// sentinels of errors.go: ErrNotFound, ErrConflict, ErrPreconditionFailed,
// ErrUnknownOutcome, ErrUnavailable, ErrUnauthorized, ErrDigestMismatch.
//
// It knows HTTP and the leaf format package cas/chunk; it must not import
// the chunk store, Raft or the daemon, so that a program importing it
// never pulls in Badger.
package client
