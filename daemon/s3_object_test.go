package daemon

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// TestS3_Objects drives the object operations with the current
// aws-sdk-go-v2 over plain http (signed payload SHA-256) and over TLS
// (aws-chunked bodies with a CRC32 trailer, the SDK's default there).
func TestS3_Objects(t *testing.T) {
	srv := newTestServer(t)
	for _, tr := range []struct {
		name string
		c    *s3.Client
	}{{"HTTP", s3SDK(t, srv)}, {"TLS", s3SDKTLS(t, srv)}} {
		t.Run(tr.name, func(t *testing.T) {
			bucket := "objects-" + strings.ToLower(tr.name)
			s3MakeBucket(t, tr.c, bucket)
			testS3Object(t, srv, tr.c, bucket)
		})
	}
}

func testS3Object(t *testing.T, srv *Server, c *s3.Client, bucket string) {
	ctx := t.Context()
	data := s3Payload(1, 300<<10)
	md := md5.Sum(data)
	etag := `"` + hex.EncodeToString(md[:]) + `"`

	t.Run("PutGet", func(t *testing.T) {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String("dir/obj"), Body: bytes.NewReader(data),
			ContentType: aws.String("application/x-test"), CacheControl: aws.String("max-age=60"),
			ContentDisposition: aws.String(`attachment; filename="obj"`), ContentLanguage: aws.String("en"),
			Metadata: map[string]string{"color": "blue", "run-id": "r1"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ETag) != etag {
			t.Fatalf("ETag %s, want the MD5 %s", aws.ToString(out.ETag), etag)
		}
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/obj")})
		if err != nil {
			t.Fatal(err)
		}
		defer got.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(got.Body)
		if !bytes.Equal(buf.Bytes(), data) || aws.ToInt64(got.ContentLength) != int64(len(data)) {
			t.Fatalf("read back %d bytes, want %d", buf.Len(), len(data))
		}
		if aws.ToString(got.ContentType) != "application/x-test" || aws.ToString(got.CacheControl) != "max-age=60" ||
			aws.ToString(got.ContentLanguage) != "en" || !strings.Contains(aws.ToString(got.ContentDisposition), "filename") ||
			got.Metadata["color"] != "blue" || got.Metadata["run-id"] != "r1" || aws.ToString(got.ETag) != etag {
			t.Fatalf("headers: type %q cache %q lang %q disp %q meta %v etag %q", aws.ToString(got.ContentType), aws.ToString(got.CacheControl),
				aws.ToString(got.ContentLanguage), aws.ToString(got.ContentDisposition), got.Metadata, aws.ToString(got.ETag))
		}
		// The stored digest is the BLAKE3 of the plain content: no
		// aws-chunked framing got into the object.
		if !bytes.Equal(s3Stored(t, srv, bucket, "dir/obj"), data) {
			t.Fatal("stored content differs")
		}
	})
	t.Run("Checksums", func(t *testing.T) {
		for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmCrc64nvme} {
			key := "sum/" + string(alg)
			put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data), ChecksumAlgorithm: alg})
			if err != nil {
				t.Fatalf("%s: %v", alg, err)
			}
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			want := [...]*string{put.ChecksumCRC32, put.ChecksumCRC32C, put.ChecksumSHA256, put.ChecksumCRC64NVME}
			got := [...]*string{head.ChecksumCRC32, head.ChecksumCRC32C, head.ChecksumSHA256, head.ChecksumCRC64NVME}
			for i := range want {
				if aws.ToString(want[i]) != aws.ToString(got[i]) {
					t.Fatalf("%s: HEAD checksums %v, PUT answered %v", alg, aws.ToString(got[i]), aws.ToString(want[i]))
				}
			}
			// The SDK validates the checksum of the whole body it reads.
			if b := s3Get(t, c, bucket, key, func(in *s3.GetObjectInput) { in.ChecksumMode = types.ChecksumModeEnabled }); !bytes.Equal(b, data) {
				t.Fatal("read back differs")
			}
		}
	})
	t.Run("Ranges", func(t *testing.T) {
		for _, tc := range []struct {
			rng        string
			start, end int
		}{{"bytes=10-19", 10, 19}, {"bytes=-100", len(data) - 100, len(data) - 1}, {"bytes=300000-", 300000, len(data) - 1}, {"bytes=5-999999999", 5, len(data) - 1}} {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/obj"), Range: aws.String(tc.rng)})
			if err != nil {
				t.Fatalf("%s: %v", tc.rng, err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(out.Body)
			out.Body.Close()
			if !bytes.Equal(buf.Bytes(), data[tc.start:tc.end+1]) || !strings.HasPrefix(aws.ToString(out.ContentRange), "bytes ") {
				t.Fatalf("%s: %d bytes, content range %q", tc.rng, buf.Len(), aws.ToString(out.ContentRange))
			}
		}
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/obj"), Range: aws.String("bytes=999999999-")})
		wantS3Error(t, err, "InvalidRange", 416)
	})
	t.Run("Conditions", func(t *testing.T) {
		get := func(f func(*s3.GetObjectInput)) error {
			in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/obj")}
			f(in)
			out, err := c.GetObject(ctx, in)
			if err == nil {
				out.Body.Close()
			}
			return err
		}
		past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if err := get(func(in *s3.GetObjectInput) { in.IfMatch = aws.String(etag) }); err != nil {
			t.Fatal(err)
		}
		wantS3Error(t, get(func(in *s3.GetObjectInput) { in.IfMatch = aws.String(`"0000"`) }), "PreconditionFailed", 412)
		wantS3Error(t, get(func(in *s3.GetObjectInput) { in.IfUnmodifiedSince = &past }), "PreconditionFailed", 412)
		wantS3Error(t, get(func(in *s3.GetObjectInput) { in.IfNoneMatch = aws.String(etag) }), "NotModified", 304)
		wantS3Error(t, get(func(in *s3.GetObjectInput) { in.IfModifiedSince = &future }), "NotModified", 304)
		if err := get(func(in *s3.GetObjectInput) { in.IfModifiedSince = &past }); err != nil {
			t.Fatal(err)
		}
		// Conditional writes, checked atomically in Apply.
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/obj"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")})
		wantS3Error(t, err, "PreconditionFailed", 412)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/obj"), Body: strings.NewReader("x"), IfMatch: aws.String(`"0000"`)})
		wantS3Error(t, err, "PreconditionFailed", 412)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("cond/new"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")}); err != nil {
			t.Fatal(err)
		}
		xe := s3Put(t, c, bucket, "cond/new", []byte("y"))
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("cond/new"), Body: strings.NewReader("z"), IfMatch: aws.String(xe)}); err != nil {
			t.Fatal(err)
		}
		if b := s3Get(t, c, bucket, "cond/new"); string(b) != "z" {
			t.Fatalf("cond/new reads %q", b)
		}
	})
	t.Run("HeadAndOverrides", func(t *testing.T) {
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/obj")})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) || aws.ToString(head.ETag) != etag {
			t.Fatalf("head: %v %+v", err, head)
		}
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("nope")})
		wantS3Error(t, err, "NotFound", 404)
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/obj"),
			ResponseContentType: aws.String("text/csv"), ResponseContentDisposition: aws.String("inline")})
		if err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		if aws.ToString(out.ContentType) != "text/csv" || aws.ToString(out.ContentDisposition) != "inline" {
			t.Fatalf("overrides: %q %q", aws.ToString(out.ContentType), aws.ToString(out.ContentDisposition))
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("nope")})
		wantS3Error(t, err, "NoSuchKey", 404)
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")})
		wantS3Error(t, err, "NoSuchBucket", 404)
	})
	t.Run("Empty", func(t *testing.T) {
		if e := s3Put(t, c, bucket, "empty", nil); e != `"d41d8cd98f00b204e9800998ecf8427e"` {
			t.Fatalf("empty ETag %s", e)
		}
		if b := s3Get(t, c, bucket, "empty"); len(b) != 0 {
			t.Fatalf("empty object reads %d bytes", len(b))
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s3Put(t, c, bucket, "gone", []byte("bye"))
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("gone")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("gone")})
		wantS3Error(t, err, "NoSuchKey", 404)
		// Deleting a missing key succeeds, as in S3.
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("gone")}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestS3_Copy shows that CopyObject moves no bytes, keeps or replaces the
// metadata as asked, decodes the copy source and honours its conditions.
func TestS3_Copy(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "src")
	s3MakeBucket(t, c, "dst")
	data := s3Payload(2, 200<<10)
	const key = "dir/a key+with spaces/é.bin"
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-src"), Metadata: map[string]string{"origin": "src"}})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := srv.Store().Stats(ctx)
	source := "src/" + s3Escape(key)

	out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String(source)})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	if err != nil || head.Metadata["origin"] != "src" || aws.ToString(head.ContentType) != "application/x-src" || aws.ToString(head.ETag) != aws.ToString(out.CopyObjectResult.ETag) {
		t.Fatalf("COPY directive: %v %+v", err, head)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("replaced"), CopySource: aws.String(source + "?versionId=null"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/plain"), Metadata: map[string]string{"origin": "new"}})
	if err != nil {
		t.Fatal(err)
	}
	head, _ = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("replaced")})
	if head.Metadata["origin"] != "new" || aws.ToString(head.ContentType) != "text/plain" {
		t.Fatalf("REPLACE directive: %+v", head)
	}
	if b := s3Get(t, c, "dst", "replaced"); !bytes.Equal(b, data) {
		t.Fatal("copy reads back different bytes")
	}
	if after, _ := srv.Store().Stats(ctx); after != before {
		t.Fatalf("a copy stored chunks: %+v -> %+v", before, after)
	}
	t.Run("Errors", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String(key), CopySource: aws.String(source)})
		wantS3Error(t, err, "InvalidRequest", 400)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String(source),
			CopySourceIfMatch: aws.String(`"0000"`)})
		wantS3Error(t, err, "PreconditionFailed", 412)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String(source),
			CopySourceIfNoneMatch: aws.String(aws.ToString(out.CopyObjectResult.ETag))})
		wantS3Error(t, err, "PreconditionFailed", 412)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/missing")})
		wantS3Error(t, err, "NoSuchKey", 404)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String(source + "?versionId=v2")})
		wantS3Error(t, err, "InvalidArgument", 400)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("nobucketkey")})
		wantS3Error(t, err, "InvalidArgument", 400)
	})
}

// TestS3_Auth shows that unsigned, wrongly signed, expired and unknown-key
// requests are refused with S3's codes, and that presigned URLs work.
func TestS3_Auth(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.Anonymous = "" })
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "auth")
	s3Put(t, c, "auth", "k", []byte("secret bytes"))
	k := s3Creds(t, srv)

	t.Run("Anonymous", func(t *testing.T) {
		resp, err := http.Get(srv.URL() + "/auth/k")
		if err != nil {
			t.Fatal(err)
		}
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || s3ErrorCode(b.Bytes()) != "AccessDenied" || resp.Header.Get("X-Amz-Request-Id") == "" {
			t.Fatalf("anonymous GET: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		bad := s3SDKAt(t, srv.URL(), http.DefaultClient, k.AccessKey, "wrong", nil...)
		_, err := bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("k")})
		wantS3Error(t, err, "SignatureDoesNotMatch", 403)
	})
	t.Run("UnknownKey", func(t *testing.T) {
		bad := s3SDKAt(t, srv.URL(), http.DefaultClient, "AKIAUNKNOWN", k.SecretKey)
		_, err := bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("auth"), Key: aws.String("k"), Body: strings.NewReader("overwrite")})
		wantS3Error(t, err, "InvalidAccessKeyId", 403)
	})
	t.Run("Presigned", func(t *testing.T) {
		pc := s3.NewPresignClient(c)
		put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("auth"), Key: aws.String("presigned")})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, put.URL, strings.NewReader("via presigned PUT"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("presigned PUT: %v %v", err, resp)
		}
		resp.Body.Close()
		get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("presigned")})
		if err != nil {
			t.Fatal(err)
		}
		resp, err = http.Get(get.URL)
		if err != nil {
			t.Fatal(err)
		}
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || b.String() != "via presigned PUT" {
			t.Fatalf("presigned GET: %d %q", resp.StatusCode, b)
		}
		// A presigned URL signed two hours ago for one hour has expired.
		old, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("presigned")},
			s3.WithPresignExpires(time.Hour), func(o *s3.PresignOptions) {
				o.Presigner = pastPresigner{v4.NewSigner(), time.Now().Add(-2 * time.Hour)}
			})
		if err != nil {
			t.Fatal(err)
		}
		resp, err = http.Get(old.URL)
		if err != nil {
			t.Fatal(err)
		}
		b.Reset()
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || s3ErrorCode(b.Bytes()) != "AccessDenied" {
			t.Fatalf("expired presigned GET: %d %s", resp.StatusCode, b)
		}
	})
	if b := s3Get(t, c, "auth", "k"); string(b) != "secret bytes" {
		t.Fatalf("refused requests changed the object: %q", b)
	}
}

// pastPresigner presigns as if at another time.
type pastPresigner struct {
	s  *v4.Signer
	at time.Time
}

func (p pastPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	_ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.s.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.at, optFns...)
}

// payloadRecorder records the x-amz-content-sha256 of each object PUT.
type payloadRecorder struct {
	base http.RoundTripper
	seen chan string
}

func (p payloadRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Count(r.URL.Path, "/") > 1 {
		p.seen <- r.Header.Get("X-Amz-Content-Sha256")
	}
	return p.base.RoundTrip(r)
}

// TestS3_PayloadModes shows which body encodings the tests exercise: the
// SDK signs the SHA-256 over http and streams aws-chunked with a trailer
// over TLS; minio-go streams signed chunks with a trailer over http.
func TestS3_PayloadModes(t *testing.T) {
	srv := newTestServer(t)
	seen := make(chan string, 1)
	sdk := s3SDK(t, srv, func(o *s3.Options) {
		o.HTTPClient = &http.Client{Transport: payloadRecorder{http.DefaultTransport, seen}}
	})
	s3MakeBucket(t, sdk, "modes")
	s3Put(t, sdk, "modes", "http", []byte("over http"))
	if m := <-seen; len(m) != 64 {
		t.Fatalf("SDK over http sent %q", m)
	}
	tls := s3SDKTLS(t, srv, func(o *s3.Options) {
		o.HTTPClient = &http.Client{Transport: payloadRecorder{o.HTTPClient.(*http.Client).Transport, seen}}
	})
	s3Put(t, tls, "modes", "tls", []byte("over tls"))
	if m := <-seen; m != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" {
		t.Fatalf("SDK over TLS sent %q", m)
	}
	k := s3Creds(t, srv)
	mc, _ := minio.New(srv.Addr(), &minio.Options{Creds: miniocreds.NewStaticV4(k.AccessKey, k.SecretKey, ""), Region: s3Region,
		BucketLookup: minio.BucketLookupPath, TrailingHeaders: true, MaxRetries: 1, Transport: payloadRecorder{http.DefaultTransport, seen}})
	if _, err := mc.PutObject(t.Context(), "modes", "minio", strings.NewReader("over minio"), 10, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if m := <-seen; m != "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" {
		t.Fatalf("minio-go sent %q", m)
	}
	opts := minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}
	if _, err := mc.PutObject(t.Context(), "modes", "minio-crc", strings.NewReader("over minio"), 10, opts); err != nil {
		t.Fatal(err)
	}
	if m := <-seen; m != "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" {
		t.Fatalf("minio-go with a checksum sent %q", m)
	}
	for _, k := range []string{"http", "tls", "minio", "minio-crc"} {
		s3Stored(t, srv, "modes", k)
	}
}

// TestS3_ConsistentReads serves reads and listings after a read barrier
// when the node is configured for consistent reads.
func TestS3_ConsistentReads(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.ConsistentReads = true })
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "consistent")
	s3Put(t, c, "consistent", "k", []byte("v"))
	if b := s3Get(t, c, "consistent", "k"); string(b) != "v" {
		t.Fatalf("read %q", b)
	}
	out, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("consistent")})
	if err != nil || len(out.Contents) != 1 {
		t.Fatalf("list: %v %+v", err, out)
	}
	if _, err := c.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String("consistent")}); err != nil {
		t.Fatal(err)
	}
}
