package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"cairn/daemon/internal/apierr"
	"cairn/daemon/mlmodel"
	"cairn/raftfsm"
)

// PutRequest is one object write, whichever surface it came from.
type PutRequest struct {
	Bucket string
	Key    string
	Body   io.Reader
	Length int64 // declared length, -1 when unknown
	// Limit, if set and below the node's maximum object size, is the
	// most the body may hold; a body of unknown length is cut off past it.
	Limit      int64
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

// PutResult is what a write stored.
type PutResult struct {
	Object   raftfsm.Object
	NewBytes int64 // bytes of chunks new to this node
	Chunks   int
}

// Put stores a body and commits it: the chunks are stored and synced
// here, then pushed to enough peers for the write quorum, then the
// reference is committed through Raft and applied on this node. Only then
// does it return. A failure before the commit changes nothing anyone can
// see; the chunks already stored are garbage that GC reclaims. The ETag
// is the MD5 of the content, whatever the surface, as S3 clients expect.
func (n *Node) Put(ctx context.Context, p PutRequest) (PutResult, error) {
	if err := CheckKey(p.Key); err != nil {
		return PutResult{}, err
	}
	if err := n.checkBucket(ctx, p.Bucket); err != nil {
		return PutResult{}, err
	}
	limit := n.cfg.MaxObjectSize
	if p.Limit > 0 {
		limit = min(limit, p.Limit)
	}
	if p.Length > limit {
		return PutResult{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, p.Length)
	}
	if err := n.RoomFor(p.Length); err != nil {
		return PutResult{}, err
	}
	r := p.Body
	var model *bytes.Buffer
	if IsMLmodel(p.Key) {
		model = &bytes.Buffer{}
		r = io.TeeReader(r, &cappedWriter{w: model, n: mlmodel.MaxSize + 1})
	}
	sc, err := n.StoreContent(ctx, r, p.Length, limit, p.BodyMD5, p.Finish)
	if err != nil {
		return PutResult{}, fmt.Errorf("%s/%s: %w", p.Bucket, p.Key, err)
	}
	p.Meta.ETag = sc.ETag
	cmd := &raftfsm.PutObject{
		Bucket: p.Bucket, Key: p.Key, Meta: p.Meta, Conditions: p.Conditions,
		File: sc.File,
		Time: n.Now().UnixNano(),
	}
	if model != nil {
		cmd.Model = mlmodel.Index(model.Bytes())
	}
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{Object: *res.Object, NewBytes: sc.NewBytes, Chunks: len(sc.File.Recipe)}, nil
}

// IsMLmodel reports whether a key names an MLmodel file, which the model
// index parses.
func IsMLmodel(key string) bool {
	_, base := path.Split(key)
	return base == "MLmodel"
}

// checkBucket fails early, before any byte is stored, when a bucket does
// not exist. A follower that has not applied the bucket's creation yet
// catches up with the leader before it says no. Apply checks again.
func (n *Node) checkBucket(ctx context.Context, bucket string) error {
	_, err := n.State().Bucket(bucket)
	if !errors.Is(err, raftfsm.ErrNoSuchBucket) {
		return err
	}
	if err := n.ReadBarrier(ctx); err != nil {
		return err
	}
	_, err = n.State().Bucket(bucket)
	return err
}

// CheckKey refuses keys that cannot name an object: longer than 1024
// bytes (KeyTooLongError, as S3), empty, with a NUL byte or not UTF-8
// (InvalidArgument). It also refuses keys with "." or ".." segments, which
// S3 stores: tools that map keys to paths would resolve them outside their
// folder (InvalidArgument).
func CheckKey(key string) error {
	if len(key) > raftfsm.MaxKeyLength {
		return apierr.BadRequest("KeyTooLongError", "your key is too long: %d bytes, at most %d", len(key), raftfsm.MaxKeyLength)
	}
	if why := raftfsm.ValidKey(key); why != "" {
		return apierr.InvalidArgument("key", key, "%s", why)
	}
	for _, seg := range splitSegments(key) {
		if seg == ".." || seg == "." {
			return apierr.InvalidArgument("key", key, "key %q has a %q segment, which cairn refuses: tools that map keys to paths would leave their folder", key, seg)
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

// RoomFor refuses, before it is read, a body of known length that the
// disk cannot take above its reserve; the store checks again before each
// write of chunks. (A body whose chunks are all stored already needs no
// room, but that is known only once it has been read.)
func (n *Node) RoomFor(length int64) error {
	return n.store.CheckSpace(max(length, 0))
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
		return n, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.limit)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return n, fmt.Errorf("%w: after %d bytes", ErrShortBody, c.n)
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
