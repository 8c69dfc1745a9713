package raftfsm

import (
	"strings"

	"cairn/cas"
)

// writeObject makes o current for its key, replacing cur (nil when the key
// is new), and keeps reference counts, bucket and global counters, the
// run index and the model index in step.
func (x *txn) writeObject(b *Bucket, cur, o *Object, f File, m *Model) error {
	o.Index = x.index
	if cur == nil || cur.Digest != o.Digest {
		if err := x.incref(f); err != nil {
			return err
		}
	}
	if cur != nil {
		if cur.Digest != o.Digest {
			if err := x.decref(cur.Digest); err != nil {
				return err
			}
			if err := x.del(fileUseKey(cur.Digest, cur.Bucket, cur.Key)); err != nil {
				return err
			}
		}
		b.Bytes -= cur.Size
		x.stats.LogicalBytes -= cur.Size
	} else {
		b.Objects++
		x.stats.Objects++
	}
	b.Bytes += o.Size
	x.stats.LogicalBytes += o.Size
	if err := x.set(fileUseKey(o.Digest, o.Bucket, o.Key), nil); err != nil {
		return err
	}
	if err := x.put(key(tBucket, b.Name), b); err != nil {
		return err
	}
	if err := x.put(objectKey(o.Bucket, o.Key), o); err != nil {
		return err
	}
	if err := x.indexRun(cur, o); err != nil {
		return err
	}
	if err := x.trackLateETag(cur, o); err != nil {
		return err
	}
	return x.indexModel(o, m, false)
}

// removeObject deletes o and undoes what writeObject counted for it.
func (x *txn) removeObject(b *Bucket, o *Object) error {
	if err := x.decref(o.Digest); err != nil {
		return err
	}
	if err := x.del(fileUseKey(o.Digest, o.Bucket, o.Key)); err != nil {
		return err
	}
	b.Objects--
	b.Bytes -= o.Size
	x.stats.Objects--
	x.stats.LogicalBytes -= o.Size
	if err := x.put(key(tBucket, b.Name), b); err != nil {
		return err
	}
	if err := x.del(objectKey(o.Bucket, o.Key)); err != nil {
		return err
	}
	if err := x.indexRun(o, nil); err != nil {
		return err
	}
	if err := x.trackLateETag(o, nil); err != nil {
		return err
	}
	return x.indexModel(o, nil, true)
}

// runKey names a run record: one per run id, bucket and root, so that the
// same run logged to two places is counted in each.
func runKey(id, bucket, root string) []byte { return key(tRun, id, bucket, root) }

// indexRun moves the run counters from old to cur: either may be nil.
func (x *txn) indexRun(old, cur *Object) error {
	if old != nil {
		if l, ok := ParseLayout(old.Key); ok {
			var r Run
			k := runKey(l.ID, old.Bucket, l.Root)
			if _, err := x.get(k, &r); err != nil {
				return err
			}
			r.Files--
			r.Bytes -= old.Size
			if r.Files <= 0 && cur == nil {
				if err := x.del(k); err != nil {
					return err
				}
			} else if err := x.put(k, r); err != nil {
				return err
			}
		}
	}
	if cur == nil {
		return nil
	}
	l, ok := ParseLayout(cur.Key)
	if !ok {
		return nil
	}
	var r Run
	k := runKey(l.ID, cur.Bucket, l.Root)
	found, err := x.get(k, &r)
	if err != nil {
		return err
	}
	if !found {
		r = Run{RunID: l.ID, ExperimentID: l.ExperimentID, Bucket: cur.Bucket, Root: l.Root, Kind: l.Kind, First: cur.MTime}
	}
	r.Files++
	r.Bytes += cur.Size
	r.Last = cur.MTime
	return x.put(k, r)
}

// indexModel keeps the model index in step with a write (m is the parsed
// MLmodel, nil for any other file) or a removal of o.
func (x *txn) indexModel(o *Object, m *Model, removed bool) error {
	dir, base := splitDir(o.Key)
	if base == "MLmodel" {
		mk := key(tModel, o.Bucket, o.Key)
		var old ModelEntry
		had, err := x.get(mk, &old)
		if err != nil {
			return err
		}
		if had {
			if err := x.unindexModelIDs(&old); err != nil {
				return err
			}
		}
		if removed || m == nil {
			if !had {
				return nil
			}
			return x.del(mk)
		}
		e := ModelEntry{Bucket: o.Bucket, Key: o.Key, Dir: dir, MTime: o.MTime, Model: *m}
		if l, ok := ParseLayout(o.Key); ok {
			e.ExperimentID = l.ExperimentID
			if l.Kind == "run" {
				e.RunID = l.ID
			}
		}
		if e.Model.RunID != "" {
			e.RunID = e.Model.RunID
		}
		e.Model.EnvFiles = nil
		for _, name := range envFiles {
			env, err := x.object(o.Bucket, dir+name)
			if err != nil {
				return err
			}
			if env != nil {
				if e.Model.EnvFiles == nil {
					e.Model.EnvFiles = map[string]cas.Digest{}
				}
				e.Model.EnvFiles[name] = env.Digest
			}
		}
		if err := x.put(mk, e); err != nil {
			return err
		}
		return x.indexModelIDs(&e)
	}
	if !isEnvFile(base) {
		return nil
	}
	mk := key(tModel, o.Bucket, dir+"MLmodel")
	var e ModelEntry
	had, err := x.get(mk, &e)
	if err != nil || !had {
		return err
	}
	if removed {
		delete(e.Model.EnvFiles, base)
	} else {
		if e.Model.EnvFiles == nil {
			e.Model.EnvFiles = map[string]cas.Digest{}
		}
		e.Model.EnvFiles[base] = o.Digest
	}
	return x.put(mk, e)
}

// modelIDKeys returns the id index keys of e: one for its model_uuid and
// one for its model_id, each naming e's bucket and key, so that copies of
// a model that share an id are each indexed. Ids holding NUL are not
// indexed: they would blur the key's fields.
func modelIDKeys(e *ModelEntry) [][]byte {
	var out [][]byte
	for _, id := range []struct {
		table byte
		id    string
	}{{tModelUUID, e.Model.ModelUUID}, {tModelID, e.Model.ModelID}} {
		if id.id != "" && strings.IndexByte(id.id, 0) < 0 {
			out = append(out, key(id.table, id.id, e.Bucket, e.Key))
		}
	}
	return out
}

func (x *txn) indexModelIDs(e *ModelEntry) error {
	for _, k := range modelIDKeys(e) {
		if err := x.set(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// unindexModelIDs removes the id entries of e.
func (x *txn) unindexModelIDs(e *ModelEntry) error {
	for _, k := range modelIDKeys(e) {
		if err := x.del(k); err != nil {
			return err
		}
	}
	return nil
}
