package raftfsm

import "strings"

// Features are changes of the replicated format that a node of an older
// release could not follow: a command it does not know, or a snapshot it
// cannot read. A node says which it knows (Features); the leader turns
// one on with EnableFeature once every member knows it, and nodes use it
// only once that entry is applied. A feature stays on: there is no
// downgrade past it.
//
//   - FeatureLateETag: commits may leave their ETag to FillETags.
//   - FeatureZstdSnapshot: snapshots and backups are written in format 2.
//   - FeaturePutObjects: nodes may propose PutObjects.
var Features = []string{FeatureLateETag, FeatureZstdSnapshot, FeaturePutObjects}

// EnableFeature turns a feature on for the whole cluster, for good. The
// leader proposes it only once every member has the feature.
type EnableFeature struct {
	Name string `json:"name"`
}

func (EnableFeature) Op() Op { return OpEnableFeature }

func (x *txn) enableFeature(c *EnableFeature) (Result, error) {
	if c.Name == "" || len(c.Name) > 64 || strings.ContainsRune(c.Name, 0) {
		return reject(rejectf(ErrInvalidCommand, "feature name %q", c.Name))
	}
	return Result{}, x.set(key(tFeature, c.Name), nil)
}

// Feature reports whether a feature is on for the cluster.
func (s *State) Feature(name string) bool {
	ok := false
	s.f.view(func(x *txn) error {
		_, found, err := x.getRaw(key(tFeature, name))
		ok = found && err == nil
		return err
	})
	return ok
}
