package nativeapi

import (
	"context"
	"net/http"

	"cairn/daemon/auth"
)

// authorize checks that id may use a route of the native API:
//
//   - objects, stat, commit: read (GET, HEAD) or write on their bucket;
//   - chunks: read (GET, HEAD, POST chunks/fetch) or write, whatever the
//     key's buckets (a chunk is named by its digest, which only readable
//     objects reveal);
//   - buckets, runs, models, resolve: read (or write to change a bucket);
//     the answers show only the key's buckets;
//   - stats, refs, cluster/status: read or write on the whole cluster;
//   - cluster membership, admin, keys: admin.
//
// Routes that do not exist pass, to be answered NoSuchRoute.
func authorize(id auth.Identity, r *http.Request, route, bucket, tail string) error {
	need := auth.Write
	if r.Method == http.MethodGet || r.Method == http.MethodHead || (route == "chunks" && tail == "fetch") {
		need = auth.Read
	}
	switch route {
	case "objects", "stat", "commit":
		return id.Require(need, bucket)
	case "buckets":
		if bucket == "" {
			return id.RequireRole(need)
		}
		return id.Require(need, bucket)
	case "chunks", "runs", "models", "resolve":
		return id.RequireRole(need)
	case "stats", "refs":
		return id.Require(need, "")
	case "cluster":
		if tail == "status" {
			return id.Require(auth.Read, "")
		}
		return id.Require(auth.Admin, "")
	case "admin", "keys":
		return id.Require(auth.Admin, "")
	}
	return nil
}

type identityKey struct{}

func withIdentity(ctx context.Context, id auth.Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// identity returns who made the request, as route authenticated it.
func identity(r *http.Request) auth.Identity {
	id, _ := r.Context().Value(identityKey{}).(auth.Identity)
	return id
}

// operation names what a request does, for the latency metrics.
func operation(r *http.Request, route, key, tail string) string {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch route {
	case "objects":
		switch {
		case key == "" && get:
			return "list"
		case key == "":
			return "object_delete"
		case get:
			return "object_get"
		case r.Method == http.MethodPut:
			return "object_put"
		}
		return "object_delete"
	case "chunks":
		switch {
		case tail == "missing":
			return "chunk_missing"
		case tail == "":
			return "chunk_batch"
		case tail == "fetch":
			return "chunk_fetch"
		case get:
			return "chunk_get"
		}
		return "chunk_put"
	case "stat", "commit", "buckets", "cluster", "admin", "keys":
		return route
	}
	return "query"
}
