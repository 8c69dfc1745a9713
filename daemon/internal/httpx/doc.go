// Package httpx holds the HTTP conventions cairn's surfaces share: JSON
// bodies, byte ranges, conditional requests, user metadata headers,
// streaming verified content, request ids and the response recorder the
// router measures with.
//
// It knows net/http and the daemon's error model (apierr); it must not
// know any surface's wire form, the stores, or Raft.
package httpx
