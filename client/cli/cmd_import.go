package cli

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"cairn/client"
	"cairn/client/s3client"
)

// importETagMeta is the user metadata key under which import records the
// source object's ETag, so that a second run knows the key is done.
const importETagMeta = "import-etag"

// importSpoolInMemory is the largest object import holds in memory
// rather than in a temporary file.
const importSpoolInMemory = 4 << 20

func importCommand() *command {
	return &command{
		name: "import", minArgs: 1, maxArgs: 1,
		synopsis: "s3://<bucket>[/<prefix>]",
		summary:  "copy an S3 store's objects (such as an MLflow artifact root) into cairn, deduplicated",
		detail: `Copies every object under the prefix of an S3 bucket (MinIO, S3, or another
cairn) into a cairn bucket (--bucket, default the source bucket's name),
under the same keys (--prefix replaces the source prefix). Objects are copied
-j at a time; each is chunked and hashed here and only the chunks cairn lacks
are sent, so content it holds already costs no upload.

A run can be stopped and started again: each key imported records the source
object's ETag in its metadata (import-etag), and a later run skips the keys
cairn holds with the same size and that ETag (or whose own ETag, the MD5 of
the content, equals the source's). Content whose source ETag is an MD5 is
checked against it on the way in. The summary gives the logical bytes copied
and the bytes cairn newly stored.`,
		example: `export CAIRN_IMPORT_ACCESS_KEY=minio CAIRN_IMPORT_SECRET_KEY=...
cairn import s3://mlflow/artifacts --s3-endpoint http://10.0.0.9:9000 -j 16`,
		flags: func(fs *flag.FlagSet) action {
			var o importOptions
			fs.StringVar(&o.bucket, "bucket", "", "cairn `bucket` to copy into (default: the source bucket's name)")
			fs.StringVar(&o.prefix, "prefix", "", "key `prefix` in cairn that replaces the source prefix (default: the same keys)")
			fs.IntVar(&o.jobs, "j", 4, "objects copied at once")
			o.s3.declare(fs, "CAIRN_IMPORT")
			return func(ctx context.Context, s *session, args []string) error {
				if o.jobs < 1 {
					return usagef("import: -j must be at least 1")
				}
				return s.importS3(ctx, args[0], &o)
			}
		},
	}
}

type importOptions struct {
	bucket, prefix string
	jobs           int
	s3             s3Flags
}

// importResult is what import prints.
type importResult struct {
	Source   string `json:"source"`
	Bucket   string `json:"bucket"`
	Objects  int    `json:"objects"` // listed under the prefix
	Imported int    `json:"imported"`
	Skipped  int    `json:"skipped"` // already in cairn
	Failed   int    `json:"failed"`
	// LogicalBytes is what the imported objects add up to; StoredBytes
	// the chunk bytes cairn lacked and was sent; SkippedBytes what the
	// skipped objects add up to.
	LogicalBytes int64         `json:"logical_bytes"`
	StoredBytes  int64         `json:"stored_bytes"`
	SkippedBytes int64         `json:"skipped_bytes"`
	Errors       []importError `json:"errors,omitempty"`
}

type importError struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

func (s *session) importS3(ctx context.Context, src string, o *importOptions) error {
	srcBucket, srcPrefix, ok := parseS3URL(src)
	if !ok || srcBucket == "" {
		return usagef("import: want s3://bucket[/prefix], not %q", src)
	}
	sc, err := o.s3.client(s)
	if err != nil {
		return err
	}
	dest := first(o.bucket, srcBucket)
	destPrefix := srcPrefix
	if o.prefix != "" {
		destPrefix = o.prefix
	}
	if _, err := s.c.CreateBucket(ctx, dest, client.BucketOptions{IfNotExists: true}); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	// What cairn holds under the destination prefix, to skip.
	have := map[string]client.Object{}
	for obj, err := range s.c.ListAll(ctx, dest, client.ListOptions{Prefix: destPrefix}) {
		if err != nil {
			return fmt.Errorf("import: list %s/%s: %w", dest, destPrefix, err)
		}
		have[obj.Key] = obj
	}
	res := importResult{Source: src, Bucket: dest}
	p, stop := s.progress("import")
	defer stop()
	var mu sync.Mutex
	// One uploader for every worker: a chunk two objects share is sent
	// once even when both are imported at the same moment.
	uploader := s.c.NewUploader()
	work := make(chan s3client.ObjectInfo)
	var wg sync.WaitGroup
	for range o.jobs {
		wg.Go(func() {
			for obj := range work {
				key := destPrefix + strings.TrimPrefix(obj.Key, srcPrefix)
				up, err := s.importOne(ctx, uploader, sc, srcBucket, obj, dest, key, p)
				mu.Lock()
				if err != nil {
					res.Failed++
					res.Errors = append(res.Errors, importError{Key: obj.Key, Error: err.Error()})
				} else {
					res.Imported++
					res.LogicalBytes += up.Bytes
					res.StoredBytes += up.SentBytes
				}
				mu.Unlock()
			}
		})
	}
	var listErr error
	for obj, err := range sc.List(ctx, srcBucket, srcPrefix) {
		if err != nil {
			listErr = err
			break
		}
		mu.Lock()
		res.Objects++
		done := importDone(have[destPrefix+strings.TrimPrefix(obj.Key, srcPrefix)], obj)
		if done || strings.HasSuffix(obj.Key, "/") && obj.Size == 0 {
			res.Skipped++
			res.SkippedBytes += obj.Size
		}
		mu.Unlock()
		if done || strings.HasSuffix(obj.Key, "/") {
			continue
		}
		if p != nil {
			p.Grow(obj.Size)
		}
		select {
		case work <- obj:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	stop()
	s.emit(res, func(w io.Writer) {
		for _, e := range res.Errors {
			fmt.Fprintf(w, "failed: %s: %s\n", e.Key, e.Error)
		}
		fmt.Fprintf(w, "imported %d of %d objects from %s into %s (%d already there, %d failed)\n",
			res.Imported, res.Objects, src, dest, res.Skipped, res.Failed)
		fmt.Fprintf(w, "%s logical, %s newly stored (%.1f%% of it)\n",
			humanBytes(res.LogicalBytes), humanBytes(res.StoredBytes), percent(res.StoredBytes, res.LogicalBytes))
	})
	switch {
	case listErr != nil:
		return fmt.Errorf("import: list %s: %w (run it again to go on)", src, listErr)
	case ctx.Err() != nil:
		return fmt.Errorf("import: %w (run it again to go on)", ctx.Err())
	case res.Failed > 0:
		return fmt.Errorf("import: %d objects failed (run it again to retry them)", res.Failed)
	}
	return nil
}

// importDone reports whether cairn's object have already holds the source
// object src: same size, and the source's ETag recorded or equal to its own.
func importDone(have client.Object, src s3client.ObjectInfo) bool {
	if have.Key == "" || have.Size != src.Size || src.ETag == "" {
		return false
	}
	return have.Meta[importETagMeta] == src.ETag || strings.Trim(have.ETag, `"`) == src.ETag
}

// importOne copies one object: it spools it (in memory when small, else in
// a temporary file), checks it against an MD5 ETag, and logs it with Put,
// which sends only the chunks cairn lacks.
func (s *session) importOne(ctx context.Context, uploader *client.Uploader, sc *s3client.Client, bucket string, obj s3client.ObjectInfo, dest, key string, p client.Progress) (client.Upload, error) {
	rc, size, err := sc.GetObject(ctx, bucket, obj.Key)
	if err != nil {
		return client.Upload{}, err
	}
	defer rc.Close()
	sum := md5.New()
	in := io.TeeReader(rc, sum)
	var r io.ReaderAt
	if size >= 0 && size <= importSpoolInMemory {
		b, err := io.ReadAll(io.LimitReader(in, size+1))
		if err != nil {
			return client.Upload{}, fmt.Errorf("read %s: %w", obj.Key, err)
		}
		r, size = bytes.NewReader(b), int64(len(b))
	} else {
		f, err := os.CreateTemp("", "cairn-import-*")
		if err != nil {
			return client.Upload{}, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if size, err = io.Copy(f, in); err != nil {
			return client.Upload{}, fmt.Errorf("read %s: %w", obj.Key, err)
		}
		r = f
	}
	if size != obj.Size {
		return client.Upload{}, fmt.Errorf("read %s: %d bytes, the listing said %d (changed while importing? run it again)", obj.Key, size, obj.Size)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); isMD5(obj.ETag) && got != obj.ETag {
		return client.Upload{}, fmt.Errorf("read %s: %w: its MD5 is %s, its ETag %s", obj.Key, client.ErrDigestMismatch, got, obj.ETag)
	}
	opts := &client.PutOptions{Meta: map[string]string{importETagMeta: obj.ETag}, ContentType: obj.ContentType}
	up, err := uploader.Put(ctx, dest, key, r, size, opts)
	if err != nil {
		return up, err
	}
	if p != nil {
		p.Advance(size)
	}
	return up, nil
}

func isMD5(etag string) bool {
	if len(etag) != 32 {
		return false
	}
	_, err := hex.DecodeString(etag)
	return err == nil
}
