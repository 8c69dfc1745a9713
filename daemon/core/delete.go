package core

import (
	"context"

	"cairn/raftfsm"
)

// DeletePrefix deletes every key of bucket under prefix, as many commands
// as it takes (each deletes at most raftfsm.MaxDeletePrefix keys), and
// returns how many it deleted.
func (n *Node) DeletePrefix(ctx context.Context, bucket, prefix string) (int, error) {
	total := 0
	for {
		res, err := n.Propose(ctx, &raftfsm.DeletePrefix{Bucket: bucket, Prefix: prefix, Limit: raftfsm.MaxDeletePrefix})
		total += res.Deleted
		if err != nil || !res.More {
			return total, err
		}
	}
}

// DeleteBucket deletes a bucket that holds no object, and aborts its
// uploads in progress (their parts become garbage), as many commands as
// it takes; it returns how many uploads it aborted. Every command checks
// again that the bucket holds no object: a write that lands between two
// of them keeps the bucket, and the uploads not yet aborted.
func (n *Node) DeleteBucket(ctx context.Context, bucket string) (int, error) {
	total := 0
	for {
		res, err := n.Propose(ctx, &raftfsm.DeleteBucketAndUploads{Bucket: bucket})
		total += res.Deleted
		if err != nil || !res.More {
			return total, err
		}
	}
}

// EnsureBucket creates a bucket the first time it is needed.
func (n *Node) EnsureBucket(ctx context.Context, name string) error {
	if _, err := n.State().Bucket(name); err == nil {
		return nil
	}
	_, err := n.Propose(ctx, &raftfsm.CreateBucket{Bucket: name, IfNotExists: true, Time: n.Now().UnixNano()})
	return err
}
