package raftfsm

import (
	"fmt"

	"cairn/cas"
)

// PruneZero forgets chunks of the zero-reference table (the candidates of
// garbage collection) that no node holds any more. A chunk that a file
// references again meanwhile is not in the table; one that is referenced
// again and fell back to zero is, and stays: Apply removes an entry only
// while the chunk's count is zero, and only once the cold tier holds no
// record of the chunk (ForgetTiered goes first).
type PruneZero struct {
	Digests []cas.Digest `json:"digests"`
}

func (PruneZero) Op() Op { return OpPruneZero }

// MaxPruneZero bounds the digests of one PruneZero.
const MaxPruneZero = 4096

func (x *txn) pruneZero(c *PruneZero) (Result, error) {
	if len(c.Digests) > MaxPruneZero {
		return reject(rejectf(ErrTooLarge, "%d digests to prune, at most %d", len(c.Digests), MaxPruneZero))
	}
	n := 0
	for _, d := range c.Digests {
		if _, ok, err := x.getRaw(digestKey(tChunk, d)); err != nil || ok {
			if err != nil {
				return Result{}, fmt.Errorf("prune %s: %w", d.Short(), err)
			}
			continue // referenced: not a candidate
		}
		if _, tiered, err := x.tier().tierRecord(d); err != nil || tiered {
			if err != nil {
				return Result{}, err
			}
			continue // the cold tier's life cycle goes first
		}
		zk := digestKey(tZero, d)
		if _, ok, err := x.getRaw(zk); err != nil || !ok {
			if err != nil {
				return Result{}, fmt.Errorf("prune %s: %w", d.Short(), err)
			}
			continue
		}
		if err := x.del(zk); err != nil {
			return Result{}, err
		}
		n++
	}
	return Result{Deleted: n}, nil
}
