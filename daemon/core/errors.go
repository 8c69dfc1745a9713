package core

import (
	"net/http"

	"cairn/daemon/internal/apierr"
)

// Errors of the write and read paths. They are apierr sentinels: wrap them
// with %w, and every surface answers them with their status and code.
var (
	ErrNoSuchKey     = apierr.Sentinel(http.StatusNotFound, "NoSuchKey", "daemon: no such key")
	ErrTooLarge      = apierr.Sentinel(http.StatusBadRequest, "EntityTooLarge", "daemon: body larger than the maximum object size")
	ErrShortBody     = apierr.Sentinel(http.StatusBadRequest, "IncompleteBody", "daemon: body shorter than its Content-Length")
	ErrQuorum        = apierr.Sentinel(http.StatusServiceUnavailable, "ServiceUnavailable", "daemon: not enough nodes hold the chunks")
	ErrShuttingDown  = apierr.Sentinel(http.StatusServiceUnavailable, "ServiceUnavailable", "daemon: shutting down")
	ErrChunkNotFound = apierr.Sentinel(http.StatusNotFound, "NoSuchChunk", "daemon: chunk not found on any node")
	// ErrSlowDown is an upload refused because the node stores as many at
	// once as it is configured for; the client retries later.
	ErrSlowDown = apierr.Sentinel(http.StatusServiceUnavailable, "SlowDown", "daemon: too many uploads at once; retry")
)
