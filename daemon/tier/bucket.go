package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"cairn/cas/chunk"
	"cairn/client/s3client"
)

// Config names the bucket of the cold tier and how to reach it.
type Config struct {
	Endpoint  string // base URL of the S3 service
	Bucket    string
	Prefix    string // before every key, e.g. "cluster-a/"
	Region    string
	AccessKey string
	SecretKey string
}

// Bucket stores chunks in their stored form (codec byte and payload,
// what cas.Store.GetStored returns) under
// <prefix>chunks/<first two hex digits>/<digest in hex>. It is safe for
// concurrent use.
type Bucket struct {
	c       *s3client.Client
	bucket  string
	prefix  string
	maxSize int64
}

// ErrNotFound is returned for a chunk the bucket does not hold.
var ErrNotFound = errors.New("tier: chunk not in the cold tier")

// Open returns the cold tier cfg names; maxStored bounds a chunk's stored
// form, so that a wrong answer cannot make a node read without end.
func Open(cfg Config, maxStored int) (*Bucket, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("tier: an endpoint and a bucket are needed")
	}
	c, err := s3client.New(s3client.Config{Endpoint: cfg.Endpoint, Region: cfg.Region, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey})
	if err != nil {
		return nil, fmt.Errorf("tier: %w", err)
	}
	p := cfg.Prefix
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return &Bucket{c: c, bucket: cfg.Bucket, prefix: p, maxSize: int64(maxStored)}, nil
}

// Key is the key of chunk d in the bucket.
func (b *Bucket) Key(d chunk.Digest) string {
	h := d.String()
	return b.prefix + "chunks/" + h[:2] + "/" + h
}

// Put stores chunk d's stored form.
func (b *Bucket) Put(ctx context.Context, d chunk.Digest, stored []byte) error {
	if err := b.c.PutObject(ctx, b.bucket, b.Key(d), bytes.NewReader(stored), int64(len(stored))); err != nil {
		return fmt.Errorf("tier: put chunk %s: %w", d.Short(), err)
	}
	return nil
}

// Get returns chunk d's stored form as the bucket holds it; the caller
// verifies it against d.
func (b *Bucket) Get(ctx context.Context, d chunk.Digest) ([]byte, error) {
	rc, n, err := b.c.GetObject(ctx, b.bucket, b.Key(d))
	if errors.Is(err, s3client.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, d.Short())
	}
	if err != nil {
		return nil, fmt.Errorf("tier: get chunk %s: %w", d.Short(), err)
	}
	defer rc.Close()
	if n > b.maxSize {
		return nil, fmt.Errorf("tier: chunk %s: the bucket holds %d bytes, more than a chunk's %d", d.Short(), n, b.maxSize)
	}
	v, err := io.ReadAll(io.LimitReader(rc, b.maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("tier: get chunk %s: %w", d.Short(), err)
	}
	if int64(len(v)) > b.maxSize {
		return nil, fmt.Errorf("tier: chunk %s: the bucket holds more than a chunk's %d bytes", d.Short(), b.maxSize)
	}
	return v, nil
}

// Delete deletes chunk d's copy; a copy already gone is no error.
func (b *Bucket) Delete(ctx context.Context, d chunk.Digest) error {
	if err := b.c.DeleteObject(ctx, b.bucket, b.Key(d)); err != nil && !errors.Is(err, s3client.ErrNotFound) {
		return fmt.Errorf("tier: delete chunk %s: %w", d.Short(), err)
	}
	return nil
}

// Count returns how many chunks, and bytes, the bucket holds under the
// prefix: for tests and for operators checking a tier.
func (b *Bucket) Count(ctx context.Context) (n, size int64, err error) {
	for o, err := range b.c.List(ctx, b.bucket, b.prefix+"chunks/") {
		if err != nil {
			return 0, 0, fmt.Errorf("tier: list: %w", err)
		}
		n++
		size += o.Size
	}
	return n, size, nil
}
