package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"cairn/client"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Target is a store the workload runs against. Keys are artifact paths
// such as "1/<run_id>/artifacts/model/model.xgb". Implementations are
// safe for concurrent use.
type Target interface {
	Name() string
	// Put stores data under key and returns the bytes it sent over the
	// network (for a folder, the bytes written).
	Put(ctx context.Context, key string, data []byte) (sent int64, err error)
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns every key under prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	// Stored returns the bytes the target holds, by its own account
	// where it has one (ok false otherwise).
	Stored(ctx context.Context) (bytes int64, ok bool, err error)
	// DataDir is the folder whose disk usage the report shows, or "".
	DataDir() string
}

// dirTarget is a plain folder, like MLflow's file store: every file
// written in full, nothing shared.
type dirTarget struct{ root string }

// NewDir returns a target writing under root.
func NewDir(root string) (Target, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	return &dirTarget{root: root}, nil
}

func (d *dirTarget) Name() string    { return "dir" }
func (d *dirTarget) DataDir() string { return d.root }

func (d *dirTarget) path(key string) (string, error) {
	p := filepath.Join(d.root, filepath.FromSlash(key))
	if !strings.HasPrefix(p, filepath.Clean(d.root)+string(filepath.Separator)) {
		return "", fmt.Errorf("key %q leaves the folder", key)
	}
	return p, nil
}

func (d *dirTarget) Put(_ context.Context, key string, data []byte) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return 0, err
	}
	return int64(len(data)), os.WriteFile(p, data, 0o644)
}

func (d *dirTarget) Get(_ context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func (d *dirTarget) List(_ context.Context, prefix string) ([]string, error) {
	var out []string
	base := filepath.Join(d.root, filepath.FromSlash(prefix))
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(d.root, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	return out, err
}

func (d *dirTarget) Stored(context.Context) (int64, bool, error) {
	n, err := DiskUsage(d.root)
	return n, err == nil, err
}

// DiskUsage returns the bytes allocated to the files under dir, as du
// counts them.
func DiskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// clientTarget is cairn through its Go client: chunks hashed here, only
// the missing ones sent.
type clientTarget struct {
	c       *client.Client
	bucket  string
	dataDir string
}

// NewCairnClient returns a target that logs through cairn's Go client
// into bucket (created if needed). dataDir, when known, is the node's
// data folder.
func NewCairnClient(ctx context.Context, endpoint, token, bucket, dataDir string) (Target, error) {
	c, err := client.New(client.Config{Endpoints: []string{endpoint}, Token: token})
	if err != nil {
		return nil, err
	}
	if _, err := c.CreateBucket(ctx, bucket, client.BucketOptions{IfNotExists: true}); err != nil {
		return nil, err
	}
	return &clientTarget{c: c, bucket: bucket, dataDir: dataDir}, nil
}

func (t *clientTarget) Name() string    { return "cairn-client" }
func (t *clientTarget) DataDir() string { return t.dataDir }

func (t *clientTarget) Put(ctx context.Context, key string, data []byte) (int64, error) {
	up, err := t.c.Put(ctx, t.bucket, key, bytes.NewReader(data), int64(len(data)), nil)
	return up.SentBytes, err
}

func (t *clientTarget) Get(ctx context.Context, key string) ([]byte, error) {
	var b bytes.Buffer
	_, err := t.c.CopyRange(ctx, &b, t.bucket, key, 0, -1)
	return b.Bytes(), err
}

func (t *clientTarget) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	for o, err := range t.c.ListAll(ctx, t.bucket, client.ListOptions{Prefix: prefix}) {
		if err != nil {
			return nil, err
		}
		out = append(out, o.Key)
	}
	return out, nil
}

func (t *clientTarget) Stored(ctx context.Context) (int64, bool, error) {
	st, err := t.c.Stats(ctx, 1)
	return st.StoredBytes, err == nil, err
}

// s3Target is any S3 endpoint through aws-sdk-go-v2: cairn's S3 API,
// MinIO, or another store.
type s3Target struct {
	name    string
	c       *s3.Client
	bucket  string
	dataDir string
	stats   func(ctx context.Context) (int64, bool, error)
}

// S3Options locate an S3 endpoint.
type S3Options struct {
	Name      string // shown in reports (default "s3")
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string
	DataDir   string
	// CairnStats, when set, is the base URL of a cairn node whose /v1/stats
	// give the stored bytes.
	CairnStats string
	// CairnToken is the access key ("id:secret") that reads the stats.
	CairnToken string
}

// NewS3 returns a target for an S3 endpoint; the bucket is created if it
// does not exist.
func NewS3(ctx context.Context, o S3Options) (Target, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Name == "" {
		o.Name = "s3"
	}
	c := s3.New(s3.Options{
		Region:       o.Region,
		BaseEndpoint: aws.String(o.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, ""),
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(o.Bucket)}); err != nil {
		if _, herr := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(o.Bucket)}); herr != nil {
			return nil, fmt.Errorf("create bucket %s: %w", o.Bucket, err)
		}
	}
	t := &s3Target{name: o.Name, c: c, bucket: o.Bucket, dataDir: o.DataDir}
	if o.CairnStats != "" {
		cl, err := client.New(client.Config{Endpoints: []string{o.CairnStats}, Token: o.CairnToken})
		if err != nil {
			return nil, err
		}
		t.stats = func(ctx context.Context) (int64, bool, error) {
			st, err := cl.Stats(ctx, 1)
			return st.StoredBytes, err == nil, err
		}
	}
	return t, nil
}

func (t *s3Target) Name() string    { return t.name }
func (t *s3Target) DataDir() string { return t.dataDir }

func (t *s3Target) Put(ctx context.Context, key string, data []byte) (int64, error) {
	_, err := t.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(t.bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	return int64(len(data)), err
}

func (t *s3Target) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := t.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(t.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (t *s3Target) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(t.c, &s3.ListObjectsV2Input{Bucket: aws.String(t.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out, nil
}

func (t *s3Target) Stored(ctx context.Context) (int64, bool, error) {
	if t.stats != nil {
		return t.stats(ctx)
	}
	return 0, false, nil
}
