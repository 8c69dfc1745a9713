package raftfsm

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"strings"

	"cairn/cas"
)

// RunFilter selects runs. Zero fields match everything.
type RunFilter struct {
	ExperimentID string
	Bucket       string
	Kind         string // "run" or "model"
	Limit        int
}

// Runs returns the runs that match f, ordered by run id.
func (s *State) Runs(f RunFilter) ([]Run, error) {
	var out []Run
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tRun}, nil, 0, func(_, v []byte) error {
			if f.Limit > 0 && len(out) == f.Limit {
				return errStop
			}
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if (f.ExperimentID == "" || r.ExperimentID == f.ExperimentID) &&
				(f.Bucket == "" || r.Bucket == f.Bucket) && (f.Kind == "" || r.Kind == f.Kind) {
				out = append(out, r)
			}
			return nil
		})
	})
	if err == errStop {
		err = nil
	}
	return out, err
}

// Run returns every record of run (or logged model) id: one per bucket
// and root it was logged under; ErrNotFound when there is none.
func (s *State) Run(id string) ([]Run, error) {
	var out []Run
	err := s.f.view(func(x *txn) error {
		return scan(x, key(tRun, id, ""), nil, 0, func(_, v []byte) error {
			var r Run
			err := json.Unmarshal(v, &r)
			out = append(out, r)
			return err
		})
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%w: run %s", ErrNotFound, id)
	}
	return out, err
}

// ModelFilter selects indexed models. Zero fields match everything.
type ModelFilter struct {
	Bucket string
	RunID  string
	Flavor string // a flavor the model has, such as "xgboost"
	// ID matches the model_uuid or the model_id.
	ID string
	// CreatedAfter and CreatedBefore bound the creation time in unix
	// milliseconds (utc_time_created, or the write time when absent).
	CreatedAfter  int64
	CreatedBefore int64
	// IncludeErrors keeps MLmodel files that did not parse.
	IncludeErrors bool
	Limit         int
}

// Created returns the model's creation time in unix milliseconds.
func (e ModelEntry) Created() int64 {
	if e.Model.CreatedUnixMilli != 0 {
		return e.Model.CreatedUnixMilli
	}
	return e.MTime / 1e6
}

func (f ModelFilter) match(e *ModelEntry) bool {
	if _, ok := e.Model.Flavors[f.Flavor]; f.Flavor != "" && !ok {
		return false
	}
	c := e.Created()
	return (f.Bucket == "" || e.Bucket == f.Bucket) &&
		(f.RunID == "" || e.RunID == f.RunID) &&
		(f.ID == "" || e.Model.ModelUUID == f.ID || e.Model.ModelID == f.ID) &&
		(f.CreatedAfter == 0 || c >= f.CreatedAfter) &&
		(f.CreatedBefore == 0 || c < f.CreatedBefore) &&
		(f.IncludeErrors || e.Model.Error == "")
}

// Models returns the indexed models that match f, in key order.
func (s *State) Models(f ModelFilter) ([]ModelEntry, error) {
	var out []ModelEntry
	prefix := []byte{tModel}
	if f.Bucket != "" {
		prefix = key(tModel, f.Bucket, "")
	}
	err := s.f.view(func(x *txn) error {
		return scan(x, prefix, nil, 0, func(_, v []byte) error {
			if f.Limit > 0 && len(out) == f.Limit {
				return errStop
			}
			var e ModelEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if f.match(&e) {
				out = append(out, e)
			}
			return nil
		})
	})
	if err == errStop {
		err = nil
	}
	return out, err
}

// ModelAt returns the model indexed for the MLmodel file at bucket/key.
func (s *State) ModelAt(bucket, k string) (ModelEntry, error) {
	var e ModelEntry
	err := s.f.view(func(x *txn) error {
		ok, err := x.get(key(tModel, bucket, k), &e)
		if err == nil && !ok {
			err = fmt.Errorf("%w: model %s/%s", ErrNotFound, bucket, k)
		}
		return err
	})
	return e, err
}

// ModelByID returns the model with a model_id or model_uuid. When copies
// of a model share the id, it returns the one written first.
func (s *State) ModelByID(id string) (ModelEntry, error) {
	var e ModelEntry
	found := false
	err := s.f.view(func(x *txn) error {
		if strings.IndexByte(id, 0) >= 0 {
			return fmt.Errorf("%w: model %q", ErrNotFound, id)
		}
		for _, p := range [][]byte{key(tModelID, id, ""), key(tModelUUID, id, "")} {
			err := scan(x, p, nil, 0, func(k, _ []byte) error {
				b, mk, err := splitBucketKey(k[len(p):])
				if err != nil {
					return err
				}
				var c ModelEntry
				ok, err := x.get(key(tModel, b, mk), &c)
				if ok && (!found || c.MTime < e.MTime) {
					e, found = c, true
				}
				return err
			})
			if err != nil || found {
				return err
			}
		}
		return fmt.Errorf("%w: model %s", ErrNotFound, id)
	})
	return e, err
}

type stopErr struct{}

func (stopErr) Error() string { return "stop" }

var errStop error = stopErr{}

// SharedFile is a content that several objects point to.
type SharedFile struct {
	Digest cas.Digest
	Size   int64
	Refs   int64
}

// TopShared returns up to n files referenced by more than one object,
// those that save the most bytes first. It reads the file-use index keys
// only, plus the record of each shared file.
func (s *State) TopShared(n int) ([]SharedFile, error) {
	h := &sharedHeap{}
	err := s.f.view(func(x *txn) error {
		var cur cas.Digest
		var count int64
		flush := func() error {
			if count < 2 {
				return nil
			}
			var rec FileRecord
			ok, err := x.fileRecord(cur, &rec)
			if err != nil || !ok {
				return err
			}
			heap.Push(h, SharedFile{Digest: cur, Size: rec.Size, Refs: count})
			if h.Len() > n {
				heap.Pop(h)
			}
			return nil
		}
		it := x.t.NewIterator(keyOnly([]byte{tFileUse}))
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			var d cas.Digest
			copy(d[:], k[1:])
			if d != cur {
				if err := flush(); err != nil {
					return err
				}
				cur, count = d, 0
			}
			count++
		}
		return flush()
	})
	out := make([]SharedFile, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(SharedFile)
	}
	return out, err
}

// sharedHeap is a min-heap on saved bytes.
type sharedHeap []SharedFile

func saved(f SharedFile) int64          { return (f.Refs - 1) * f.Size }
func (h sharedHeap) Len() int           { return len(h) }
func (h sharedHeap) Less(i, j int) bool { return saved(h[i]) < saved(h[j]) }
func (h sharedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sharedHeap) Push(x any)        { *h = append(*h, x.(SharedFile)) }
func (h *sharedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// TopRuns returns up to n runs (and logged models) with the most bytes,
// the largest first, ties by run id. It holds n of them at once, however
// many the state has (GET /v1/stats at 10^6 objects read 200,000).
func (s *State) TopRuns(n int) ([]Run, error) {
	if n <= 0 {
		return nil, nil
	}
	h := &runHeap{}
	err := s.f.view(func(x *txn) error {
		return scan(x, []byte{tRun}, nil, 0, func(_, v []byte) error {
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			switch {
			case h.Len() < n:
				heap.Push(h, r)
			case ranksBelow((*h)[0], r):
				(*h)[0] = r
				heap.Fix(h, 0)
			}
			return nil
		})
	})
	out := make([]Run, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(Run)
	}
	return out, err
}

// ranksBelow reports whether run a comes after run b in TopRuns' order.
func ranksBelow(a, b Run) bool {
	if a.Bytes != b.Bytes {
		return a.Bytes < b.Bytes
	}
	return a.RunID > b.RunID
}

// runHeap is a min-heap in TopRuns' order: its root is the run to drop.
type runHeap []Run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return ranksBelow(h[i], h[j]) }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(Run)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
