// Package cluster is everything that crosses the cluster port between
// cairn nodes: the port itself, the peer protocol (its client, its server,
// its error codes and its chunk batches) and cluster membership.
//
// # The cluster port
//
// One listener carries Raft and the peer protocol. The first byte of a
// connection says which: 'R' goes to Raft (raftfsm, through Mux.Raft), 'P'
// to the peer protocol's HTTP server (Mux.Peer). The port may run TLS.
//
// # The peer protocol
//
// HTTP over the cluster port, every request carrying the cluster secret:
//
//	POST /peer/apply            a follower's command, applied by the leader
//	GET  /peer/index            the leader's commit index, for read barriers
//	POST /peer/missing          which of these chunks this node lacks (?peek=1: GC asking, which does not hold them from GC)
//	POST /peer/chunks           store a batch of chunks (verified, one sync)
//	POST /peer/fetch            a batch of the listed chunks this node holds
//	PUT  /peer/chunks/{digest}  store a chunk (verified, synced)
//	GET  /peer/chunks/{digest}  a verified chunk (what nodes before /peer/fetch ask)
//	POST /peer/join, /remove    change the membership (on the leader)
//	GET  /peer/status           this node's Raft and repair status
//
// Every error that crosses it travels as a code of its own (see
// errors.go), so the asking node gets back the very sentinel the answering
// node returned: a stale leader's ErrNotLeader stays ErrNotLeader.
//
// It knows the stores' APIs (cas, raftfsm) and HTTP; it must not know the
// user-facing surfaces, the write path or its callers.
package cluster
