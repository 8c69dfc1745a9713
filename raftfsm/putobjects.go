package raftfsm

import "fmt"

// FeaturePutObjects is the feature that lets a node propose PutObjects:
// a node of an older release does not know the command.
const FeaturePutObjects = "put-objects"

// Limits of one PutObjects, so that it fits in one state transaction and
// one request between nodes: at most MaxPutObjects keys, and at most
// MaxChunksPerFile chunks in all their recipes together.
const MaxPutObjects = 1000

// PutObjects writes several keys of one bucket in one entry, all or none:
// a model folder logged at once appears at once, and a reader never sees
// its MLmodel without the files it names. Each object is checked
// (key, file, conditions) before any is written; one that fails rejects
// the whole command, and a key may appear only once.
type PutObjects struct {
	Bucket  string      `json:"bucket"`
	Objects []PutObject `json:"objects"`
}

func (PutObjects) Op() Op { return OpPutObjects }

func (x *txn) putObjects(c *PutObjects) (Result, error) {
	if len(c.Objects) == 0 || len(c.Objects) > MaxPutObjects {
		return reject(rejectf(ErrInvalidCommand, "%d objects in one command, 1 to %d", len(c.Objects), MaxPutObjects))
	}
	chunks := 0
	seen := make(map[string]bool, len(c.Objects))
	for i := range c.Objects {
		p := &c.Objects[i]
		if p.Bucket != c.Bucket {
			return reject(rejectf(ErrInvalidCommand, "object %q is in bucket %q, the command's is %q", p.Key, p.Bucket, c.Bucket))
		}
		if why := ValidKey(p.Key); why != "" {
			return reject(rejectf(ErrInvalidCommand, "%q: %s", p.Key, why))
		}
		if seen[p.Key] {
			return reject(rejectf(ErrInvalidCommand, "key %q twice in one command", p.Key))
		}
		seen[p.Key] = true
		if err := checkFile(p.File); err != nil {
			return reject(err)
		}
		if chunks += len(p.File.Recipe); chunks > MaxChunksPerFile {
			return reject(rejectf(ErrTooLarge, "more than %d chunks in one command", MaxChunksPerFile))
		}
	}
	// Every check reads before anything is written, so a rejection
	// leaves the transaction as it found it.
	b, err := x.bucket(c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if b == nil {
		return reject(rejectf(ErrNoSuchBucket, "%s", c.Bucket))
	}
	curs := make([]*Object, len(c.Objects))
	for i := range c.Objects {
		p := &c.Objects[i]
		if curs[i], err = x.object(p.Bucket, p.Key); err != nil {
			return Result{}, err
		}
		if rej := checkConditions(p.Conditions, curs[i]); rej != nil {
			return reject(fmt.Errorf("%s: %w", p.Key, rej))
		}
	}
	// MLmodels go last: each reads the environment files of its folder
	// once, where an environment file written after its MLmodel would
	// read, change and write the model's whole entry again. The state is
	// the same in either order.
	out := make([]*Object, len(c.Objects))
	write := func(models bool) error {
		for i := range c.Objects {
			p := &c.Objects[i]
			if _, base := splitDir(p.Key); (base == "MLmodel") != models {
				continue
			}
			o := &Object{Bucket: p.Bucket, Key: p.Key, Digest: p.File.Digest, Size: p.File.Size, Meta: p.Meta, MTime: p.Time}
			if err := x.writeObject(b, curs[i], o, p.File, p.Model); err != nil {
				return err
			}
			out[i] = o
		}
		return nil
	}
	if err := write(false); err != nil {
		return Result{}, err
	}
	if err := write(true); err != nil {
		return Result{}, err
	}
	return Result{Objects: out}, nil
}
