package raftfsm

import (
	"encoding/binary"
	"fmt"

	"cairn/cas"
)

// The cold tier: chunks copied to an S3-compatible bucket outside the
// cluster, which the nodes may then drop from their own disks. The table
// 't' holds one record per chunk the bucket holds for the cluster. A
// record is live, or doomed: its chunk lost its last reference, the
// leader means to delete the copy, and writers no longer count on it.
//
// The life of a tiered chunk:
//
//  1. The leader copies a referenced chunk to the bucket, then proposes
//     TierChunks; from then on a node may drop its own copy and read the
//     chunk from the bucket.
//  2. When no file references it any more, the leader proposes
//     DoomTiered. A chunk referenced again meanwhile comes back to life
//     in the same command that references it.
//  3. A grace period after the doom, the leader proposes ForgetTiered,
//     which forgets the chunks still doomed and unreferenced, and only
//     then deletes their copies from the bucket: a chunk the state no
//     longer calls tiered is read, and written, as any other.

// TierRecord is the state of one chunk in the cold tier.
type TierRecord struct {
	Stored int64 // bytes of its copy in the bucket
	Doomed int64 // when it was doomed (Unix nanoseconds); 0: live
}

func (r TierRecord) marshal() []byte {
	b := binary.AppendUvarint(nil, uint64(r.Stored))
	return binary.AppendUvarint(b, uint64(r.Doomed))
}

func (r *TierRecord) unmarshal(b []byte) error {
	s, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("decode tier record")
	}
	d, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return fmt.Errorf("decode tier record")
	}
	r.Stored, r.Doomed = int64(s), int64(d)
	return nil
}

// TieredChunk names a chunk copied to the cold tier.
type TieredChunk struct {
	Digest cas.Digest `json:"digest"`
	Stored int64      `json:"stored"`
}

// TierChunks records chunks the leader copied to the cold tier. A chunk
// no file references is skipped (its copy is garbage the leader
// deletes); one already recorded keeps its record.
type TierChunks struct {
	Chunks []TieredChunk `json:"chunks"`
}

func (TierChunks) Op() Op { return OpTierChunks }

// DoomTiered marks tiered chunks that no file references as about to be
// deleted from the cold tier, at Time. Live chunks with references, and
// chunks not tiered, are skipped.
type DoomTiered struct {
	Digests []cas.Digest `json:"digests"`
	Time    int64        `json:"time"`
}

func (DoomTiered) Op() Op { return OpDoomTiered }

// ForgetTiered forgets the tiered chunks doomed at or before
// DoomedBefore that are still unreferenced; the leader deletes their
// copies once this is applied.
type ForgetTiered struct {
	Digests      []cas.Digest `json:"digests"`
	DoomedBefore int64        `json:"doomed_before"`
}

func (ForgetTiered) Op() Op { return OpForgetTiered }

// MaxTierBatch bounds the chunks of one tier command.
const MaxTierBatch = 4096

func (tt tierTxn) tierChunks(c *TierChunks) (Result, error) {
	x := tt.x
	if len(c.Chunks) > MaxTierBatch {
		return reject(rejectf(ErrTooLarge, "%d chunks to tier, at most %d", len(c.Chunks), MaxTierBatch))
	}
	n := 0
	for _, t := range c.Chunks {
		if t.Stored <= 0 {
			return reject(rejectf(ErrInvalidCommand, "tiered chunk %s of %d bytes", t.Digest.Short(), t.Stored))
		}
		if _, ok, err := x.getRaw(digestKey(tChunk, t.Digest)); err != nil || !ok {
			if err != nil {
				return Result{}, err
			}
			continue
		}
		if _, ok, err := x.tier().tierRecord(t.Digest); err != nil || ok {
			if err != nil {
				return Result{}, err
			}
			continue
		}
		if err := x.set(digestKey(tTier, t.Digest), TierRecord{Stored: t.Stored}.marshal()); err != nil {
			return Result{}, err
		}
		n++
	}
	return Result{Deleted: n}, nil
}

func (tt tierTxn) doomTiered(c *DoomTiered) (Result, error) {
	x := tt.x
	if len(c.Digests) > MaxTierBatch {
		return reject(rejectf(ErrTooLarge, "%d chunks to doom, at most %d", len(c.Digests), MaxTierBatch))
	}
	if c.Time <= 0 {
		return reject(rejectf(ErrInvalidCommand, "doom without a time"))
	}
	n := 0
	for _, d := range c.Digests {
		rec, ok, err := x.tier().tierRecord(d)
		if err != nil {
			return Result{}, err
		}
		if !ok || rec.Doomed != 0 {
			continue
		}
		if _, refd, err := x.getRaw(digestKey(tChunk, d)); err != nil || refd {
			if err != nil {
				return Result{}, err
			}
			continue
		}
		rec.Doomed = c.Time
		if err := x.set(digestKey(tTier, d), rec.marshal()); err != nil {
			return Result{}, err
		}
		n++
	}
	return Result{Deleted: n}, nil
}

func (tt tierTxn) forgetTiered(c *ForgetTiered) (Result, error) {
	x := tt.x
	if len(c.Digests) > MaxTierBatch {
		return reject(rejectf(ErrTooLarge, "%d chunks to forget, at most %d", len(c.Digests), MaxTierBatch))
	}
	n := 0
	for _, d := range c.Digests {
		rec, ok, err := x.tier().tierRecord(d)
		if err != nil {
			return Result{}, err
		}
		if !ok || rec.Doomed == 0 || rec.Doomed > c.DoomedBefore {
			continue
		}
		if _, refd, err := x.getRaw(digestKey(tChunk, d)); err != nil || refd {
			if err != nil {
				return Result{}, err
			}
			continue
		}
		if err := x.del(digestKey(tTier, d)); err != nil {
			return Result{}, err
		}
		n++
	}
	return Result{Deleted: n}, nil
}

// revive brings a doomed tiered chunk back to life when a file references
// it again.
func (tt tierTxn) revive(d cas.Digest) error {
	x := tt.x
	rec, ok, err := x.tier().tierRecord(d)
	if err != nil || !ok || rec.Doomed == 0 {
		return err
	}
	rec.Doomed = 0
	return x.set(digestKey(tTier, d), rec.marshal())
}

func (tt tierTxn) tierRecord(d cas.Digest) (TierRecord, bool, error) {
	x := tt.x
	var rec TierRecord
	v, ok, err := x.getRaw(digestKey(tTier, d))
	if err != nil || !ok {
		return rec, ok, err
	}
	if err := rec.unmarshal(v); err != nil {
		return rec, false, fmt.Errorf("chunk %s: %w", d.Short(), err)
	}
	return rec, true, nil
}

// Tiered returns the cold tier's record of chunk d, if it has one.
func (s *State) Tiered(d cas.Digest) (TierRecord, bool, error) {
	var (
		rec TierRecord
		ok  bool
	)
	err := s.f.view(func(x *txn) error {
		var err error
		rec, ok, err = x.tier().tierRecord(d)
		return err
	})
	return rec, ok, err
}

// TierEntry is a chunk of the cold tier, for paging through the table.
type TierEntry struct {
	Digest cas.Digest
	TierRecord
}

// TieredAfter returns up to limit records of the cold tier from the digest
// after after (the zero digest: from the start).
func (s *State) TieredAfter(after cas.Digest, limit int) ([]TierEntry, error) {
	var from []byte
	if after != (cas.Digest{}) {
		from = append(digestKey(tTier, after), 0)
	}
	var out []TierEntry
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tTier}, from, limit, func(k, v []byte) error {
			var e TierEntry
			copy(e.Digest[:], k[1:])
			if err := e.unmarshal(v); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// tierTxn applies the cold tier's commands within a txn.
type tierTxn struct{ x *txn }

func (x *txn) tier() tierTxn { return tierTxn{x} }
