package core

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/raftfsm"
)

// ETags keeps the ETags of objects committed before their MD5 was
// computed (raftfsm.LateETag): the leader fills them in the state when
// the node is quiet, and a reader asking before that gets the MD5
// computed on the spot, remembered here by file digest. Either way every
// surface gives the same ETag for the same content.
type ETags struct {
	n     *Node
	on    atomic.Bool // the cluster turned raftfsm.FeatureLateETag on
	mu    sync.Mutex
	known map[chunk.Digest]string
	next  *raftfsm.ObjectRef // where FillLate goes on from (nil: the first)
}

// md5ETag is the S3 ETag of content whose MD5 is sum: quoted lowercase
// hex.
func md5ETag(sum []byte) string { return `"` + hex.EncodeToString(sum) + `"` }

// etagsKnown bounds the MD5s an ETags remembers (about 100 bytes each).
const etagsKnown = 4096

func newETags(n *Node) *ETags { return &ETags{n: n, known: map[chunk.Digest]string{}} }

// ETags returns the node's keeper of late ETags.
func (n *Node) ETags() *ETags { return n.etags }

// Late reports whether a commit may leave its ETag for later: the whole
// cluster knows how to fill it in.
func (e *ETags) Late() bool {
	if e.on.Load() {
		return true
	}
	if e.n.State().Feature(raftfsm.FeatureLateETag) {
		e.on.Store(true)
		return true
	}
	return false
}

// Of fills in o's ETag if it is late.
func (e *ETags) Of(ctx context.Context, o *raftfsm.Object) error {
	if !raftfsm.LateETag(o) {
		return nil
	}
	etag, err := e.compute(ctx, o.Digest)
	if err != nil {
		return fmt.Errorf("the ETag of %s/%s: %w", o.Bucket, o.Key, err)
	}
	o.Meta.ETag = etag
	return nil
}

// OfAll fills in the late ETags of objs.
func (e *ETags) OfAll(ctx context.Context, objs []raftfsm.Object) error {
	for i := range objs {
		if err := e.Of(ctx, &objs[i]); err != nil {
			return err
		}
	}
	return nil
}

// compute returns the MD5 ETag of the file d, reading it verified (from
// peers or the cold tier if need be) unless it is remembered.
func (e *ETags) compute(ctx context.Context, d chunk.Digest) (string, error) {
	if etag, ok := e.remembered(d); ok {
		return etag, nil
	}
	rec, err := e.n.State().File(d)
	if err != nil {
		return "", err
	}
	if err := e.n.EnsureLocal(ctx, rec.Recipe); err != nil {
		return "", err
	}
	sum := md5.New()
	rd := e.n.store.Open(ctx, rec.Recipe)
	_, err = io.Copy(sum, rd)
	if cerr := rd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	etag := md5ETag(sum.Sum(nil))
	e.n.metrics.ETagsComputed.Add(1)
	e.remember(d, etag)
	return etag, nil
}

// remembered returns the MD5 ETag of file d if it is remembered.
func (e *ETags) remembered(d chunk.Digest) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	etag, ok := e.known[d]
	return etag, ok
}

// remember keeps the MD5 ETag of file d, forgetting one at random when
// it holds etagsKnown.
func (e *ETags) remember(d chunk.Digest, etag string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.known) >= etagsKnown {
		for k := range e.known {
			delete(e.known, k)
			break
		}
	}
	e.known[d] = etag
}

// settle fills in, before c is proposed, the late ETags of the objects
// whose ETag c's conditions compare: the state machine compares the
// ETags it holds and cannot compute one.
func (e *ETags) settle(ctx context.Context, c raftfsm.Command) error {
	var refs []raftfsm.ObjectRef
	compares := func(cond raftfsm.Conditions) bool {
		return cond.IfMatch != "" || (cond.IfNoneMatch != "" && cond.IfNoneMatch != "*")
	}
	switch c := c.(type) {
	case *raftfsm.PutObject:
		if compares(c.Conditions) {
			refs = append(refs, raftfsm.ObjectRef{Bucket: c.Bucket, Key: c.Key})
		}
	case *raftfsm.PutObjects:
		for _, p := range c.Objects {
			if compares(p.Conditions) {
				refs = append(refs, raftfsm.ObjectRef{Bucket: p.Bucket, Key: p.Key})
			}
		}
	case *raftfsm.DeleteObject:
		if compares(c.Conditions) {
			refs = append(refs, raftfsm.ObjectRef{Bucket: c.Bucket, Key: c.Key})
		}
	case *raftfsm.CopyObject:
		if c.SrcIfMatch != "" {
			refs = append(refs, raftfsm.ObjectRef{Bucket: c.SrcBucket, Key: c.SrcKey})
		}
		if compares(c.Conditions) {
			refs = append(refs, raftfsm.ObjectRef{Bucket: c.Bucket, Key: c.Key})
		}
	}
	if len(refs) == 0 || !e.Late() {
		return nil
	}
	fills, err := e.fills(ctx, refs)
	if err != nil || len(fills) == 0 {
		return err
	}
	return e.propose(ctx, fills)
}

// propose fills in the state the ETags of fills.
func (e *ETags) propose(ctx context.Context, fills []raftfsm.ETagFill) error {
	if _, err := e.n.Propose(ctx, &raftfsm.FillETags{ETags: fills}); err != nil {
		return err
	}
	for _, f := range fills {
		if f.ETag != "" {
			e.n.metrics.ETagsFilled.Add(1)
		}
	}
	return nil
}

// fills computes the ETags of the late objects among refs; a ref that is
// no longer late (or gone) gets an entry without ETag, which takes it out
// of the state's table of late ETags.
func (e *ETags) fills(ctx context.Context, refs []raftfsm.ObjectRef) ([]raftfsm.ETagFill, error) {
	var out []raftfsm.ETagFill
	for _, r := range refs {
		o, _, err := e.n.State().Object(r.Bucket, r.Key)
		f := raftfsm.ETagFill{Bucket: r.Bucket, Key: r.Key}
		switch {
		case err == nil && raftfsm.LateETag(&o):
			if f.ETag, err = e.compute(ctx, o.Digest); err != nil {
				return out, fmt.Errorf("the ETag of %s/%s: %w", r.Bucket, r.Key, err)
			}
			f.Digest = o.Digest
		case err != nil && !errors.Is(err, raftfsm.ErrNotFound) && !errors.Is(err, raftfsm.ErrNoSuchBucket):
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

// fillBatch is how many late ETags the leader fills per command.
const fillBatch = 256

// Run fills late ETags in the state, once the cluster has them on, while
// this node leads and its store is quiet (or at least one batch every ten
// seconds). It returns when ctx ends.
func (e *ETags) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !e.n.raft.IsLeader() || !e.Late() {
			continue
		}
		for {
			quiet := e.n.store.Backlog().Quiet
			if !quiet && time.Since(last) < 10*time.Second {
				break
			}
			last = time.Now()
			// On a quiet store, stop as soon as foreground work comes
			// (the fill's own reads do not count); the one batch every
			// ten seconds goes whole.
			yield := func() bool { return quiet && !e.n.store.Backlog().Quiet }
			more, err := e.FillLateUntil(ctx, yield)
			if err != nil && ctx.Err() == nil {
				e.n.log.Warn("fill late ETags", "err", err)
			}
			if err != nil || !more {
				break
			}
		}
	}
}

// FillLate fills one batch of late ETags and reports whether more wait.
// An object whose content cannot be read now stays late and is tried
// again on the next batch.
func (e *ETags) FillLate(ctx context.Context) (more bool, err error) {
	return e.FillLateUntil(ctx, func() bool { return false })
}

// FillLateUntil fills a batch of late ETags as FillLate does, but ends it
// early, with what it has computed, once yield says so (it computes at
// least one ETag first); the next batch goes on from there.
func (e *ETags) FillLateUntil(ctx context.Context, yield func() bool) (more bool, err error) {
	e.mu.Lock()
	after := e.next
	e.mu.Unlock()
	refs, err := e.n.State().LateETags(after, fillBatch)
	if err != nil {
		return false, err
	}
	if len(refs) == 0 {
		e.setNext(nil)
		return false, nil
	}
	// The fill's reads are background work: they must not make the store
	// look busy to yield, or to the compactor.
	bctx := cas.Background(ctx)
	var fills []raftfsm.ETagFill
	var firstErr error
	done := 0
	for _, r := range refs {
		if done > 0 && yield() {
			break
		}
		done++
		f, err := e.fills(bctx, []raftfsm.ObjectRef{r})
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		fills = append(fills, f...)
	}
	// Go on after what this batch went through next time, so that objects
	// that cannot be read now do not hold up the rest; start again from
	// the first once a page is short and went through whole.
	switch {
	case done < len(refs):
		e.setNext(&refs[done-1])
	case len(refs) == fillBatch:
		e.setNext(&refs[len(refs)-1])
	default:
		e.setNext(nil)
	}
	if len(fills) > 0 {
		if err := e.propose(ctx, fills); err != nil {
			return false, err
		}
	}
	if len(fills) == 0 && firstErr != nil {
		return false, firstErr
	}
	return done < len(refs) || len(refs) == fillBatch, firstErr
}

func (e *ETags) setNext(r *raftfsm.ObjectRef) {
	e.mu.Lock()
	e.next = r
	e.mu.Unlock()
}
