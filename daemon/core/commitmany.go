package core

import (
	"context"
	"fmt"
	"net/http"

	"cairn/cas"
	"cairn/daemon/internal/apierr"
	"cairn/raftfsm"
)

// CommitMany commits files the client chunked and uploaded to keys of one
// bucket in one Raft entry (raftfsm.PutObjects): all of them or, if any
// check fails, none. Each file is checked as Commit checks one; the
// missing-chunks check and the replication to the peers are done once for
// all of them. It needs the cluster's FeaturePutObjects, which the leader
// turns on once every member runs a release that knows it: until then it
// fails with NotImplemented and the client commits the files one by one.
func (n *Node) CommitMany(ctx context.Context, bucket string, reqs []CommitRequest) ([]PutResult, error) {
	if !n.State().Feature(raftfsm.FeaturePutObjects) {
		return nil, apierr.New(http.StatusNotImplemented, "NotImplemented",
			"this cluster does not commit several files at once yet: a member runs an older release")
	}
	if len(reqs) == 0 || len(reqs) > raftfsm.MaxPutObjects {
		return nil, apierr.BadRequest("InvalidRequest", "%d files in one commit, 1 to %d", len(reqs), raftfsm.MaxPutObjects)
	}
	chunks := 0
	seen := make(map[string]bool, len(reqs))
	for i := range reqs {
		reqs[i].Bucket = bucket
		if err := n.checkCommit(&reqs[i]); err != nil {
			return nil, err
		}
		if seen[reqs[i].Key] {
			return nil, apierr.BadRequest("InvalidRequest", "key %q twice in one commit", reqs[i].Key)
		}
		seen[reqs[i].Key] = true
		if chunks += len(reqs[i].Recipe); chunks > raftfsm.MaxChunksPerFile {
			return nil, fmt.Errorf("%w: more than %d chunks in one commit", ErrTooLarge, raftfsm.MaxChunksPerFile)
		}
	}
	if err := n.checkBucket(ctx, bucket); err != nil {
		return nil, err
	}
	var all cas.Recipe
	for _, r := range reqs {
		all = append(all, r.Recipe...)
	}
	if err := n.checkChunks(ctx, all.Distinct()); err != nil {
		return nil, err
	}
	cmd := &raftfsm.PutObjects{Bucket: bucket, Objects: make([]raftfsm.PutObject, len(reqs))}
	var push cas.Recipe // the chunks of files the state does not hold yet
	for i, r := range reqs {
		c, err := n.commitCommand(ctx, r)
		if err != nil {
			return nil, err
		}
		cmd.Objects[i] = *c
		if !heldFile(n.State(), r.Digest, r.Recipe) {
			push = append(push, r.Recipe...)
		}
	}
	if len(push) > 0 {
		if err := n.replicateChunks(ctx, push, nil); err != nil {
			return nil, err
		}
	}
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	out := make([]PutResult, len(res.Objects))
	for i, o := range res.Objects {
		out[i] = PutResult{Object: *o, Chunks: len(reqs[i].Recipe)}
	}
	return out, nil
}
