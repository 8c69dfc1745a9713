package daemon

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// TestS3_Minio drives cairn with minio-go, which sends signed aws-chunked
// bodies with trailing checksums over plain http: buckets, small and
// multipart puts, ranges, copies (server-side compose uses
// UploadPartCopy), batch removes, listings and presigned URLs.
func TestS3_Minio(t *testing.T) {
	srv := newTestServer(t)
	mc := s3Minio(t, srv)
	ctx := t.Context()
	if err := mc.MakeBucket(ctx, "minio", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := mc.BucketExists(ctx, "minio"); err != nil || !ok {
		t.Fatalf("bucket exists: %v %v", ok, err)
	}
	if ok, err := mc.BucketExists(ctx, "nope-bucket"); err != nil || ok {
		t.Fatalf("missing bucket exists: %v %v", ok, err)
	}
	small := s3Payload(40, 100<<10)
	big := s3Payload(41, 11<<20)

	info, err := mc.PutObject(ctx, "minio", "small obj+1", bytes.NewReader(small), int64(len(small)),
		minio.PutObjectOptions{ContentType: "text/x-small", UserMetadata: map[string]string{"owner": "minio"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s3Stored(t, srv, "minio", "small obj+1"), small) {
		t.Fatal("stored content differs: the chunk framing leaked into the object?")
	}
	// 5 MiB parts: a three-part upload, each part aws-chunked and signed.
	if _, err := mc.PutObject(ctx, "minio", "dir/big", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s3Stored(t, srv, "minio", "dir/big"), big) {
		t.Fatal("multipart content differs")
	}
	st, err := mc.StatObject(ctx, "minio", "small obj+1", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(small)) || st.ETag != info.ETag || st.ContentType != "text/x-small" || st.UserMetadata["Owner"] != "minio" {
		t.Fatalf("stat: %v %+v", err, st)
	}
	st, err = mc.StatObject(ctx, "minio", "dir/big", minio.StatObjectOptions{})
	if err != nil || !strings.HasSuffix(st.ETag, "-3") {
		t.Fatalf("stat big: %v %+v", err, st)
	}

	t.Run("Range", func(t *testing.T) {
		opts := minio.GetObjectOptions{}
		opts.SetRange(5<<20-10, 5<<20+9)
		obj, err := mc.GetObject(ctx, "minio", "dir/big", opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(b, big[5<<20-10:5<<20+10]) {
			t.Fatalf("range across parts: %v, %d bytes", err, len(b))
		}
	})
	t.Run("Compose", func(t *testing.T) {
		_, err := mc.ComposeObject(ctx, minio.CopyDestOptions{Bucket: "minio", Object: "composed"},
			minio.CopySrcOptions{Bucket: "minio", Object: "dir/big", MatchRange: true, Start: 0, End: 5<<20 - 1},
			minio.CopySrcOptions{Bucket: "minio", Object: "small obj+1"})
		if err != nil {
			t.Fatal(err)
		}
		want := append(append([]byte(nil), big[:5<<20]...), small...)
		if !bytes.Equal(s3Stored(t, srv, "minio", "composed"), want) {
			t.Fatal("composed object differs")
		}
		if _, err := mc.CopyObject(ctx, minio.CopyDestOptions{Bucket: "minio", Object: "copied"}, minio.CopySrcOptions{Bucket: "minio", Object: "small obj+1"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("List", func(t *testing.T) {
		var keys []string
		for o := range mc.ListObjects(ctx, "minio", minio.ListObjectsOptions{Recursive: true, MaxKeys: 2}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		if !slices.Equal(keys, []string{"composed", "copied", "dir/big", "small obj+1"}) {
			t.Fatalf("recursive listing %q", keys)
		}
		keys = nil
		for o := range mc.ListObjects(ctx, "minio", minio.ListObjectsOptions{WithVersions: true}) {
			keys = append(keys, o.Key+"@"+o.VersionID)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"composed@null", "copied@null", "dir/@", "small obj+1@null"}) {
			t.Fatalf("versions listing %q", keys)
		}
	})
	t.Run("Presigned", func(t *testing.T) {
		u, err := mc.PresignedPutObject(ctx, "minio", "presigned", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, u.String(), strings.NewReader("presigned body"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("presigned put: %v %v", err, resp)
		}
		resp.Body.Close()
		u, err = mc.PresignedGetObject(ctx, "minio", "presigned", time.Minute, url.Values{"response-content-type": {"text/x-presigned"}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err = http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "presigned body" || resp.Header.Get("Content-Type") != "text/x-presigned" {
			t.Fatalf("presigned get: %q %q", b, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		bad, err := minio.New(srv.Addr(), &minio.Options{Creds: miniocreds.NewStaticV4(s3Creds(t, srv).AccessKey, "wrong", ""),
			Region: s3Region, BucketLookup: minio.BucketLookupPath, MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.PutObject(ctx, "minio", "small obj+1", strings.NewReader("evil"), 4, minio.PutObjectOptions{})
		if minio.ToErrorResponse(err).Code != "SignatureDoesNotMatch" {
			t.Fatalf("wrong secret: %v", err)
		}
	})
	t.Run("RemoveObjects", func(t *testing.T) {
		ch := make(chan minio.ObjectInfo, 4)
		for _, k := range []string{"composed", "copied", "presigned", "missing"} {
			ch <- minio.ObjectInfo{Key: k}
		}
		close(ch)
		for e := range mc.RemoveObjects(ctx, "minio", ch, minio.RemoveObjectsOptions{}) {
			t.Fatalf("remove %s: %v", e.ObjectName, e.Err)
		}
		if err := mc.RemoveBucket(ctx, "minio"); minio.ToErrorResponse(err).Code != "BucketNotEmpty" {
			t.Fatalf("remove non-empty bucket: %v", err)
		}
	})
	if !bytes.Equal(s3Stored(t, srv, "minio", "small obj+1"), small) {
		t.Fatal("small object changed")
	}
}
