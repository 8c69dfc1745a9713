package daemon

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3_DeleteBucketAbortsUploads shows that DeleteBucket on a bucket
// with no objects but unfinished multipart uploads succeeds and aborts
// them, as S3 and MinIO do: the bucket recreated under the same name has
// no upload, and the old upload id is gone. A bucket that still holds an
// object is refused, and keeps its uploads.
func TestS3_DeleteBucketAbortsUploads(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "tmp")
	id := s3CreateUpload(t, c, "tmp", "interrupted")
	s3UploadParts(t, c, "tmp", "interrupted", id, [][]byte{s3Payload(100, 300<<10)}, "")
	s3CreateUpload(t, c, "tmp", "other")
	s3Put(t, c, "tmp", "obj", []byte("obj"))

	_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("tmp")})
	wantS3Error(t, err, "BucketNotEmpty", 409)
	if ups, _ := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("tmp")}); len(ups.Uploads) != 2 {
		t.Fatalf("a refused DeleteBucket aborted uploads: %+v", ups.Uploads)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("tmp"), Key: aws.String("obj")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("tmp")}); err != nil {
		t.Fatalf("delete a bucket with only uploads: %v", err)
	}
	if st, _ := srv.Node().State().Stats(); st.Uploads != 0 || st.Buckets != 0 {
		t.Fatalf("after the delete: %d uploads, %d buckets", st.Uploads, st.Buckets)
	}
	s3MakeBucket(t, c, "tmp")
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("tmp")})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("uploads of the recreated bucket: %v %+v", err, ups)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("tmp"), Key: aws.String("interrupted"), UploadId: aws.String(id),
		PartNumber: aws.Int32(2), Body: bytes.NewReader([]byte("late"))})
	wantS3Error(t, err, "NoSuchUpload", 404)
}

// TestS3_UploadPartCopyRanges checks x-amz-copy-source-range as S3
// answers it (recorded on a 10-byte source): a range that does not parse,
// or whose last byte is past the end, is 400 InvalidArgument naming the
// header and its value; one whose first byte is past the end is 400
// InvalidRequest; never InvalidRange or 416.
func TestS3_UploadPartCopyRanges(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "rng")
	s3Put(t, c, "rng", "src", []byte("0123456789"))
	id := s3CreateUpload(t, c, "rng", "dst")
	for _, tc := range []struct {
		rng, code string
	}{
		{"bytes=0-8", ""}, {"bytes=1-1", ""}, {"bytes=0-0", ""}, {"bytes=0-9", ""},
		{"0-8", "InvalidArgument"}, {"bytes=1-0", "InvalidArgument"}, {"bytes=-1-", "InvalidArgument"},
		{"bytes=0--1", "InvalidArgument"}, {"bytes=0-1,3-4", "InvalidArgument"}, {"bytes=-", "InvalidArgument"},
		{"bytes=-0", "InvalidArgument"}, {"bytes=1-", "InvalidArgument"}, {"bytes=-2", "InvalidArgument"},
		{"bytes=+1-2", "InvalidArgument"}, {"bytes=0-100", "InvalidArgument"}, {"bytes=9-10", "InvalidArgument"},
		{"bytes=10-20", "InvalidRequest"}, {"bytes=100-200", "InvalidRequest"},
	} {
		t.Run(tc.rng, func(t *testing.T) {
			st, _, b := s3Raw(t, srv, "PUT", "/rng/dst?partNumber=1&uploadId="+id,
				http.Header{"X-Amz-Copy-Source": {"rng/src"}, "X-Amz-Copy-Source-Range": {tc.rng}}, nil)
			switch {
			case tc.code == "" && st != 200:
				t.Fatalf("%d %s, want 200", st, b)
			case tc.code == "":
				return
			case st != 400 || s3ErrorCode(b) != tc.code:
				t.Fatalf("%d %s, want 400 %s", st, b, tc.code)
			case tc.code == "InvalidArgument":
				wantElems(t, b, map[string]string{"ArgumentName": "x-amz-copy-source-range", "ArgumentValue": tc.rng})
			default:
				wantElems(t, b, map[string]string{"ArgumentName": ""})
			}
		})
	}
	// The SDK sees the same codes.
	_, err := c.UploadPartCopy(t.Context(), &s3.UploadPartCopyInput{Bucket: aws.String("rng"), Key: aws.String("dst"), UploadId: aws.String(id),
		PartNumber: aws.Int32(1), CopySource: aws.String("rng/src"), CopySourceRange: aws.String("bytes=100-200")})
	wantS3Error(t, err, "InvalidRequest", 400)
}

// TestS3_PartUploadedTwice uploads the same part number twice, the first
// upload finishing last (its body is held open with a pipe until the
// second has returned), then completes with both ETags in the order the
// uploads finished, as a client that resends a part does (ceph's
// test_multipart_resend_first_finishes_last): part numbers may repeat,
// the last entry of a number wins, and the object is the part that
// finished last, with the ETag of the collapsed list.
func TestS3_PartUploadedTwice(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDKTLS(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "twice")
	id := s3CreateUpload(t, c, "twice", "obj")
	first, second := s3Payload(110, 300<<10), s3Payload(111, 1000)

	pr, pw := io.Pipe()
	type answer struct {
		etag string
		err  error
	}
	firstDone := make(chan answer, 1)
	go func() {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("twice"), Key: aws.String("obj"), UploadId: aws.String(id),
			PartNumber: aws.Int32(1), Body: pr, ContentLength: aws.Int64(int64(len(first)))})
		if err != nil {
			pr.CloseWithError(err)
			firstDone <- answer{err: err}
			return
		}
		firstDone <- answer{etag: aws.ToString(out.ETag)}
	}()
	// The write returns once the first upload has taken these bytes: it
	// is under way, and cannot finish before the rest is written.
	if _, err := pw.Write(first[:64<<10]); err != nil {
		t.Fatal(err)
	}
	out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("twice"), Key: aws.String("obj"), UploadId: aws.String(id),
		PartNumber: aws.Int32(1), Body: bytes.NewReader(second)})
	if err != nil {
		t.Fatal(err)
	}
	secondETag := aws.ToString(out.ETag)
	if _, err := pw.Write(first[64<<10:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	a := <-firstDone
	if a.err != nil {
		t.Fatal(a.err)
	}
	part := func(etag string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(1), ETag: aws.String(etag)}
	}
	_, err = s3Complete(c, t, "twice", "obj", id, []types.CompletedPart{part(a.etag), part(secondETag)})
	wantS3Error(t, err, "InvalidPart", 400) // the last entry names the part that was replaced
	done, err := s3Complete(c, t, "twice", "obj", id, []types.CompletedPart{part(secondETag), part(a.etag)})
	if err != nil {
		t.Fatalf("complete with both ETags in finish order: %v", err)
	}
	if got := aws.ToString(done.ETag); got != multipartETagOf([][]byte{first}) {
		t.Fatalf("ETag %s, want the one of the collapsed list %s", got, multipartETagOf([][]byte{first}))
	}
	if got := s3Get(t, c, "twice", "obj"); !bytes.Equal(got, first) {
		t.Fatalf("the object is %d bytes, not the part that finished last", len(got))
	}
	// The same list again is the idempotent retry.
	if again, err := s3Complete(c, t, "twice", "obj", id, []types.CompletedPart{part(secondETag), part(a.etag)}); err != nil || aws.ToString(again.ETag) != aws.ToString(done.ETag) {
		t.Fatalf("retried Complete: %v", err)
	}
}
