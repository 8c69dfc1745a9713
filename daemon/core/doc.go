// Package core is where every surface of a node meets to store and read
// objects: an S3 PUT, an MLflow PUT and a client's commit all go through
// Node.Put or Node.Commit, and every GET through Node.Lookup and
// Node.Content.
//
// # The write path
//
// Put checks the key, the bucket and the room on disk; streams the body
// through the chunk store (cas), which cuts, hashes, compresses and syncs
// it, while early batches go to the peers (prePush); replicates what the
// peers still lack until a majority of the voters holds every chunk
// (replicate); proposes the object through Raft, forwarded to the leader
// from a follower (Propose); and returns once this node has applied it.
// Nothing is acknowledged before it is synced on a write quorum.
//
// # The read path
//
// Lookup resolves a key in this node's applied state, after a read
// barrier for a consistent read. Content makes sure this node holds every
// chunk of the range (fetching the missing ones from peers, verified) and
// opens a reader that verifies each chunk it returns.
//
// It knows the stores (cas, raftfsm), the peer protocol's client and the
// daemon's error model; it must not know HTTP routing or any surface's
// wire form.
package core
