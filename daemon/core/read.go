package core

import (
	"context"
	"errors"
	"io"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/raftfsm"
)

// Lookup reads an object's record, from this node's state or, for a
// consistent read, after the leader has confirmed it is current. An ETag
// left for after the commit and not in the state yet is computed here
// (ETags).
func (n *Node) Lookup(ctx context.Context, bucket, key string, consistent bool) (raftfsm.Object, raftfsm.FileRecord, error) {
	if consistent {
		if err := n.ReadBarrier(ctx); err != nil {
			return raftfsm.Object{}, raftfsm.FileRecord{}, err
		}
	}
	o, rec, err := n.State().Object(bucket, key)
	if err == nil {
		err = n.etags.Of(ctx, &o)
	}
	return o, rec, err
}

// ReadBarrier makes later reads on this node see every write committed
// before the call: the leader confirms its leadership and applies what it
// committed; a follower asks the leader for its commit index and waits to
// apply up to it. A follower that asks a node no longer leading asks the
// next leader.
func (n *Node) ReadBarrier(ctx context.Context) error {
	err := n.raft.Barrier(ctx)
	if !errors.Is(err, raftfsm.ErrNotLeader) {
		return err
	}
	var index uint64
	err = n.toLeader(ctx, func(addr string) error {
		var err error
		index, err = n.peers.Index(ctx, addr)
		return err
	})
	if err != nil {
		return err
	}
	return n.raft.WaitApplied(ctx, index)
}

// Content opens size bytes of a file from offset start, after making sure
// this node holds every chunk of it (fetching the missing ones from peers,
// each verified). The reader verifies every chunk it returns; the caller
// closes it.
func (n *Node) Content(ctx context.Context, recipe cas.Recipe, start int64) (*cas.Reader, error) {
	if err := n.EnsureLocal(ctx, recipe); err != nil {
		return nil, err
	}
	rd := n.store.Open(ctx, recipe)
	if _, err := rd.Seek(start, io.SeekStart); err != nil {
		rd.Close()
		return nil, err
	}
	return rd, nil
}

// EnsureLocal makes sure this node holds every chunk of a recipe,
// fetching the missing ones from peers (each verified before it is kept).
func (n *Node) EnsureLocal(ctx context.Context, recipe cas.Recipe) error {
	missing, err := n.store.Missing(ctx, recipe.Distinct())
	if err != nil || len(missing) == 0 {
		return err
	}
	return n.FetchChunks(ctx, missing)
}

// Chunk returns a verified chunk from this node, or from a peer (and
// keeps it) when this node lacks it.
func (n *Node) Chunk(ctx context.Context, d chunk.Digest) ([]byte, error) {
	b, err := n.store.GetChunk(ctx, d)
	if !errors.Is(err, cas.ErrNotFound) {
		return b, err
	}
	if err := n.FetchChunks(ctx, []chunk.Digest{d}); err != nil {
		return nil, err
	}
	return n.store.GetChunk(ctx, d)
}
