package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"cairn/cas"
	"cairn/raftfsm"
)

// putRequest is one object write, whichever surface it came from.
type putRequest struct {
	Bucket     string
	Key        string
	Body       io.Reader
	Length     int64 // declared length, -1 when unknown
	Meta       raftfsm.ObjectMeta
	Conditions raftfsm.Conditions
	// BodyMD5, if set, returns the MD5 of a body that computes its own
	// once it has been read to its end (an S3 body does, for Content-MD5),
	// so that the ETag does not hash the content a second time.
	BodyMD5 func() []byte
	// Finish, if set, is called after the body is stored and before the
	// write is proposed; an error from it aborts the write (for example a
	// payload checksum that only the end of the body can prove).
	Finish func() error
}

// putResult is what a write stored.
type putResult struct {
	Object   raftfsm.Object
	NewBytes int64 // bytes of chunks new to this node
	Chunks   int
}

// putObject stores a body and commits it: the chunks are stored and
// synced here, then pushed to enough peers for the write quorum, then the
// reference is committed through Raft and applied on this node. Only then
// does it return. A failure before the commit changes nothing anyone can
// see; the chunks already stored are garbage that GC reclaims. The ETag
// is the MD5 of the content, whatever the surface, as S3 clients expect.
func (s *Server) putObject(ctx context.Context, p putRequest) (putResult, error) {
	if err := checkKey(p.Key); err != nil {
		return putResult{}, err
	}
	if err := s.checkBucket(ctx, p.Bucket); err != nil {
		return putResult{}, err
	}
	if p.Length > s.cfg.MaxObjectSize {
		return putResult{}, fmt.Errorf("%w: %d bytes", errTooLarge, p.Length)
	}
	if err := s.roomFor(p.Length); err != nil {
		return putResult{}, err
	}
	r := p.Body
	var mlmodel *bytes.Buffer
	if _, base := path.Split(p.Key); base == "MLmodel" {
		mlmodel = &bytes.Buffer{}
		r = io.TeeReader(r, &cappedWriter{w: mlmodel, n: MaxMLmodelSize + 1})
	}
	sc, err := s.storeContent(ctx, r, p.Length, s.cfg.MaxObjectSize, p.BodyMD5, p.Finish)
	if err != nil {
		return putResult{}, fmt.Errorf("%s/%s: %w", p.Bucket, p.Key, err)
	}
	p.Meta.ETag = sc.ETag
	var model *raftfsm.Model
	if mlmodel != nil {
		model = parseModel(mlmodel.Bytes())
	}
	r2, err := s.propose(ctx, &raftfsm.PutObject{
		Bucket: p.Bucket, Key: p.Key, Meta: p.Meta, Conditions: p.Conditions,
		File:  sc.File,
		Time:  s.cfg.Now().UnixNano(),
		Model: model,
	})
	if err != nil {
		return putResult{}, err
	}
	return putResult{Object: *r2.Object, NewBytes: sc.NewBytes, Chunks: len(sc.File.Recipe)}, nil
}

// checkBucket fails early, before any byte is stored, when a bucket does
// not exist. A follower that has not applied the bucket's creation yet
// catches up with the leader before it says no. Apply checks again.
func (s *Server) checkBucket(ctx context.Context, bucket string) error {
	_, err := s.node.State().Bucket(bucket)
	if !errors.Is(err, raftfsm.ErrNoSuchBucket) {
		return err
	}
	if err := s.readBarrier(ctx); err != nil {
		return err
	}
	_, err = s.node.State().Bucket(bucket)
	return err
}

// parseModel parses an MLmodel file for the model index; a file that does
// not parse is indexed with the reason.
func parseModel(b []byte) *raftfsm.Model {
	m, err := ParseMLmodel(b)
	if err != nil {
		return &raftfsm.Model{Error: err.Error()}
	}
	return &m
}

// checkKey refuses keys that cannot name an object, and keys with "." or
// ".." segments, which tools that map keys to paths would resolve outside
// their folder.
func checkKey(key string) error {
	if why := raftfsm.ValidKey(key); why != "" {
		return badRequest("InvalidKey", "%s", why)
	}
	for _, seg := range splitSegments(key) {
		if seg == ".." || seg == "." {
			return badRequest("InvalidKey", "key %q has a %q segment", key, seg)
		}
	}
	return nil
}

func splitSegments(key string) []string {
	var out []string
	for len(key) > 0 {
		i := 0
		for i < len(key) && key[i] != '/' {
			i++
		}
		out = append(out, key[:i])
		if i == len(key) {
			break
		}
		key = key[i+1:]
	}
	return out
}

// propose commits a command: directly on the leader, forwarded to it from
// a follower. It returns once this node has applied the command, so a read
// here right after sees it. A rejection comes back as an error.
func (s *Server) propose(ctx context.Context, c raftfsm.Command) (raftfsm.Result, error) {
	if s.closed.Load() {
		return raftfsm.Result{}, errShuttingDown
	}
	// Commands also fill the disk (the Raft log, the state database, whose
	// memtable file is memory-mapped like the value log): on a nearly full
	// disk only those that free space go through.
	if !frees(c) {
		if err := s.store.CheckSpace(0); err != nil {
			return raftfsm.Result{}, err
		}
	}
	r, err := s.node.Apply(ctx, c)
	if errors.Is(err, raftfsm.ErrNotLeader) {
		r, err = s.forward(ctx, c)
	}
	if err != nil {
		return r, err
	}
	if r.Err != nil {
		return r, r.Err
	}
	if err := s.node.WaitApplied(ctx, r.Index); err != nil {
		return r, fmt.Errorf("%w: committed at %d but not applied here: %v", raftfsm.ErrUnknownOutcome, r.Index, err)
	}
	return r, nil
}

// frees reports whether a command only takes things away: those go
// through on a nearly full disk, since they are how space is freed.
func frees(c raftfsm.Command) bool {
	switch c.(type) {
	case *raftfsm.DeleteObject, *raftfsm.DeletePrefix, *raftfsm.DeleteBucket, *raftfsm.DeleteRef, *raftfsm.AbortUpload:
		return true
	}
	return false
}

// roomFor refuses, before it is read, a body of known length that the
// disk cannot take above its reserve; the store checks again before each
// write of chunks. (A body whose chunks are all stored already needs no
// room, but that is known only once it has been read.)
func (s *Server) roomFor(length int64) error {
	return s.store.CheckSpace(max(length, 0))
}

// countingReader counts bytes and fails past a limit.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, fmt.Errorf("%w: more than %d bytes", errTooLarge, c.limit)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return n, fmt.Errorf("%w: after %d bytes", errShortBody, c.n)
	}
	return n, err
}

// cappedWriter keeps the first n bytes written to it and drops the rest.
type cappedWriter struct {
	w io.Writer
	n int
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if c.n > 0 {
		k := min(len(p), c.n)
		c.w.Write(p[:k])
		c.n -= k
	}
	return len(p), nil
}

// ensureLocal makes sure this node holds every chunk of a recipe,
// fetching the missing ones from peers (each verified before it is kept).
func (s *Server) ensureLocal(ctx context.Context, recipe cas.Recipe) error {
	missing, err := s.store.Missing(ctx, recipe.Distinct())
	if err != nil || len(missing) == 0 {
		return err
	}
	return s.fetchFromPeers(ctx, missing)
}
