package upkeep

import (
	"context"
	"errors"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/daemon/core"
)

// ScrubReport is the answer of a scrub: what was verified, what was
// corrupt, and how many corrupt chunks were replaced from peers.
type ScrubReport struct {
	cas.ScrubResult
	Repaired int      `json:"repaired"`
	Lost     []string `json:"lost,omitempty"` // corrupt and found on no peer
}

// Scrub verifies every local chunk; a corrupt one is deleted and fetched
// again from a peer when one holds it.
func (u *Upkeep) Scrub(ctx context.Context) (ScrubReport, error) {
	store := u.node.Store()
	var bad []chunk.Digest
	res, err := store.Scrub(ctx, func(e *cas.CorruptError) error {
		u.log.Error("corrupt chunk", "digest", e.Digest, "reason", e.Reason)
		bad = append(bad, e.Digest)
		return nil
	})
	rep := ScrubReport{ScrubResult: res}
	if err != nil {
		return rep, err
	}
	if len(bad) == 0 {
		return rep, nil
	}
	if err := store.Delete(ctx, bad...); err != nil {
		return rep, err
	}
	for _, d := range bad {
		if err := u.node.FetchChunks(ctx, []chunk.Digest{d}); err != nil {
			if !errors.Is(err, core.ErrChunkNotFound) {
				return rep, err
			}
			rep.Lost = append(rep.Lost, d.String())
			continue
		}
		rep.Repaired++
	}
	return rep, nil
}
