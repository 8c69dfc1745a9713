package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"strings"

	"cairn/cas/chunk"
	"cairn/client/s3client"
)

// repo is where backups are kept: a local folder or a bucket prefix of an
// S3 store. Names are relative to its root and use "/". Snapshots and
// their manifests sit at the root; chunks under chunks/<2 hex>/<64 hex>,
// named by their BLAKE3 digest, and shared by every backup of the repo.
type repo interface {
	// put stores size bytes of r under name, whole or not at all.
	put(ctx context.Context, name string, r io.ReadSeeker, size int64) error
	// get opens name; a missing name is an error matching errNoFile.
	get(ctx context.Context, name string) (io.ReadCloser, int64, error)
	// list yields the names under prefix with their sizes.
	list(ctx context.Context, prefix string) iter.Seq2[repoEntry, error]
	// String names the repo for messages: a path or s3://bucket/prefix.
	String() string
}

type repoEntry struct {
	name string
	size int64
}

// errNoFile is what isNoFile recognises: a name the repo lacks.
var errNoFile = errors.New("no such file")

func isNoFile(err error) bool {
	return errors.Is(err, errNoFile) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, s3client.ErrNotFound)
}

// chunkDir is the folder of a repo's chunks.
const chunkDir = "chunks/"

func chunkName(d chunk.Digest) string {
	h := d.String()
	return chunkDir + h[:2] + "/" + h
}

// chunkFromName parses a name under chunkDir.
func chunkFromName(name string) (chunk.Digest, bool) {
	rest, ok := strings.CutPrefix(name, chunkDir)
	if !ok || len(rest) != 3+64 || rest[2] != '/' {
		return chunk.Digest{}, false
	}
	d, err := chunk.ParseDigest(rest[3:])
	return d, err == nil && rest[:2] == rest[3:5]
}

// repoChunks lists the chunks a repo holds, with their sizes.
func repoChunks(ctx context.Context, r repo) (map[chunk.Digest]int64, error) {
	have := map[chunk.Digest]int64{}
	for e, err := range r.list(ctx, chunkDir) {
		if err != nil {
			return nil, fmt.Errorf("list the chunks of %s: %w", r, err)
		}
		if d, ok := chunkFromName(e.name); ok {
			have[d] = e.size
		}
	}
	return have, nil
}

// localRepo is a folder.
type localRepo struct{ root string }

func (l localRepo) String() string { return l.root }

func (l localRepo) path(name string) string { return filepath.Join(l.root, filepath.FromSlash(name)) }

// put writes a temporary file beside the target, syncs it and renames it
// over the target, so that a name never holds part of its content.
func (l localRepo) put(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	p := l.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("write %s: %d bytes, want %d", p, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

func (l localRepo) get(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	f, err := os.Open(l.path(name))
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// list walks only the folders that can hold names under prefix.
func (l localRepo) list(ctx context.Context, prefix string) iter.Seq2[repoEntry, error] {
	return func(yield func(repoEntry, error) bool) {
		err := filepath.WalkDir(l.root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(l.root, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if de.IsDir() {
				if rel == "." {
					return nil
				}
				if d := rel + "/"; !strings.HasPrefix(d, prefix) && !strings.HasPrefix(prefix, d) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasPrefix(rel, prefix) || strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
				return nil
			}
			fi, err := de.Info()
			if err != nil {
				return err
			}
			if !yield(repoEntry{name: rel, size: fi.Size()}, nil) {
				return filepath.SkipAll
			}
			return nil
		})
		if err != nil {
			yield(repoEntry{}, err)
		}
	}
}

// s3Repo is a prefix of a bucket.
type s3Repo struct {
	c      *s3client.Client
	bucket string
	prefix string // "" or ending in "/"
}

func (s s3Repo) String() string { return "s3://" + s.bucket + "/" + s.prefix }

func (s s3Repo) put(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	return s.c.PutObject(ctx, s.bucket, s.prefix+name, r, size)
}

func (s s3Repo) get(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	return s.c.GetObject(ctx, s.bucket, s.prefix+name)
}

func (s s3Repo) list(ctx context.Context, prefix string) iter.Seq2[repoEntry, error] {
	return func(yield func(repoEntry, error) bool) {
		for o, err := range s.c.List(ctx, s.bucket, s.prefix+prefix) {
			if err != nil {
				yield(repoEntry{}, err)
				return
			}
			if !yield(repoEntry{name: strings.TrimPrefix(o.Key, s.prefix), size: o.Size}, nil) {
				return
			}
		}
	}
}

// s3Flags are the flags and environment that reach an S3 store.
type s3Flags struct {
	endpoint, region, accessKey, secretKey string
	envPrefix                              string // CAIRN_BACKUP or CAIRN_IMPORT
}

func (f *s3Flags) declare(fs *flag.FlagSet, envPrefix string) {
	f.envPrefix = envPrefix
	fs.StringVar(&f.endpoint, "s3-endpoint", "", "`URL` of the S3 store of s3:// locations (env "+envPrefix+"_ENDPOINT, AWS_ENDPOINT_URL)")
	fs.StringVar(&f.region, "s3-region", "", "`region` to sign S3 requests for (env AWS_REGION; default us-east-1)")
	fs.StringVar(&f.accessKey, "access-key", "", "S3 access key `id` (env "+envPrefix+"_ACCESS_KEY, AWS_ACCESS_KEY_ID)")
	fs.StringVar(&f.secretKey, "secret-key", "", "S3 `secret` key; prefer the environment ("+envPrefix+"_SECRET_KEY, AWS_SECRET_ACCESS_KEY)")
}

// client builds the S3 client the flags and the environment describe.
func (f *s3Flags) client(s *session) (*s3client.Client, error) {
	env := s.env.Getenv
	endpoint := first(f.endpoint, env(f.envPrefix+"_ENDPOINT"), env("AWS_ENDPOINT_URL_S3"), env("AWS_ENDPOINT_URL"))
	if endpoint == "" {
		return nil, usagef("an s3:// location needs --s3-endpoint (or %s_ENDPOINT)", f.envPrefix)
	}
	ak := first(f.accessKey, env(f.envPrefix+"_ACCESS_KEY"), env("AWS_ACCESS_KEY_ID"))
	sk := first(f.secretKey, env(f.envPrefix+"_SECRET_KEY"), env("AWS_SECRET_ACCESS_KEY"))
	if ak == "" || sk == "" {
		return nil, usagef("an s3:// location needs an access key and a secret key (%s_ACCESS_KEY and %s_SECRET_KEY)", f.envPrefix, f.envPrefix)
	}
	c, err := s3client.New(s3client.Config{Endpoint: endpoint, Region: first(f.region, env("AWS_REGION"), env("AWS_DEFAULT_REGION")),
		AccessKey: ak, SecretKey: sk, HTTPClient: s.env.HTTPClient})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}

// parseS3URL splits s3://bucket/rest.
func parseS3URL(loc string) (bucket, rest string, ok bool) {
	r, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, rest, _ = strings.Cut(r, "/")
	return bucket, rest, true
}

// openRepo returns the repo at loc and the file name loc ends with, if it
// names one (ending in .snap or .json): a folder path or s3://bucket/prefix.
func (s *session) openRepo(loc string, f *s3Flags) (repo, string, error) {
	if bucket, rest, ok := parseS3URL(loc); ok {
		if bucket == "" {
			return nil, "", usagef("%s: name a bucket: s3://bucket/prefix", loc)
		}
		c, err := f.client(s)
		if err != nil {
			return nil, "", err
		}
		dir, name := rest, ""
		if isBackupFile(rest) {
			dir, name = path.Dir(rest), path.Base(rest)
			if dir == "." {
				dir = ""
			}
		}
		dir = strings.Trim(dir, "/")
		if dir != "" {
			dir += "/"
		}
		return s3Repo{c: c, bucket: bucket, prefix: dir}, name, nil
	}
	if fi, err := os.Stat(loc); (err == nil && fi.IsDir()) || strings.HasSuffix(loc, "/") {
		return localRepo{root: loc}, "", nil
	}
	return localRepo{root: filepath.Dir(loc)}, filepath.Base(loc), nil
}

func isBackupFile(name string) bool {
	return strings.HasSuffix(name, snapExt) || strings.HasSuffix(name, manifestExt)
}
