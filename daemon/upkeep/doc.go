// Package upkeep is the work a node does on its own, besides answering
// requests: garbage collection of unreferenced chunks, expiry of
// abandoned multipart uploads, repair (fetching the chunks this node
// lacks from its peers) and scrub (verifying every stored chunk).
//
// It works through the node's core and stores; it must not know HTTP or
// any surface.
package upkeep
