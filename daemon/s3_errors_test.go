package daemon

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3_ErrorsNameResource shows that every error names what it
// concerns: authentication errors name the request's bucket and key (they
// are split before the signature is checked), a request with no bucket
// has no <Resource> rather than "/", a copy whose source is missing names
// the source, and the elements S3 adds (UploadId, Condition, the
// argument, HostId) are there.
func TestS3_ErrorsNameResource(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "res")
	s3MakeBucket(t, c, "dst")
	etag := s3Put(t, c, "res", "dir/k", []byte("kept"))
	k := s3Creds(t, srv)
	host := srv.Node().ID()
	wrongSecret := func(t *testing.T, target string) (int, http.Header, []byte) {
		t.Helper()
		req := s3SignedRequest(t, srv.URL()+target, "GET", nil, nil, k.AccessKey, "wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	t.Run("AuthNamesKey", func(t *testing.T) {
		st, h, b := wrongSecret(t, "/res/dir/k")
		if st != 403 || s3ErrorCode(b) != "SignatureDoesNotMatch" || h.Get("X-Amz-Id-2") != host {
			t.Fatalf("wrong secret: %d %v %s", st, h, b)
		}
		wantElems(t, b, map[string]string{"Resource": "/res/dir/k", "HostId": host})
		req := s3SignedRequest(t, srv.URL()+"/res/dir/k", "GET", nil, nil, "AKIAUNKNOWN", k.SecretKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || s3ErrorCode(b) != "InvalidAccessKeyId" {
			t.Fatalf("unknown key: %d %s", resp.StatusCode, b)
		}
		wantElems(t, b, map[string]string{"Resource": "/res/dir/k"})
	})
	t.Run("NoResourceForService", func(t *testing.T) {
		st, _, b := wrongSecret(t, "/")
		if st != 403 {
			t.Fatalf("ListBuckets with a wrong secret: %d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Resource": ""})
	})
	t.Run("NoSuchKey", func(t *testing.T) {
		st, _, b := s3Raw(t, srv, "GET", "/res/dir/missing", nil, nil)
		if st != 404 || s3ErrorCode(b) != "NoSuchKey" {
			t.Fatalf("%d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Key": "dir/missing", "Resource": "/res/dir/missing", "HostId": host})
	})
	t.Run("CopySourceMissing", func(t *testing.T) {
		st, _, b := s3Raw(t, srv, "PUT", "/dst/copy", http.Header{"X-Amz-Copy-Source": {"res/dir/gone"}}, nil)
		if st != 404 || s3ErrorCode(b) != "NoSuchKey" {
			t.Fatalf("%d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Key": "dir/gone", "Resource": "/res/dir/gone"})
		st, _, b = s3Raw(t, srv, "PUT", "/dst/copy", http.Header{"X-Amz-Copy-Source": {"nobucket/dir/k"}}, nil)
		if st != 404 || s3ErrorCode(b) != "NoSuchBucket" {
			t.Fatalf("%d %s", st, b)
		}
		wantElems(t, b, map[string]string{"BucketName": "nobucket", "Resource": "/nobucket/dir/k", "Key": ""})
		id := s3CreateUpload(t, c, "dst", "mpu")
		st, _, b = s3Raw(t, srv, "PUT", "/dst/mpu?partNumber=1&uploadId="+id, http.Header{"X-Amz-Copy-Source": {"res/dir/gone"}}, nil)
		if st != 404 || s3ErrorCode(b) != "NoSuchKey" {
			t.Fatalf("UploadPartCopy: %d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Key": "dir/gone"})
	})
	t.Run("CopySourceCondition", func(t *testing.T) {
		st, _, b := s3Raw(t, srv, "PUT", "/dst/copy", http.Header{"X-Amz-Copy-Source": {"res/dir/k"}, "X-Amz-Copy-Source-If-Match": {`"0000"`}}, nil)
		if st != 412 {
			t.Fatalf("%d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Condition": "x-amz-copy-source-If-Match", "Resource": "/res/dir/k", "Key": ""})
	})
	t.Run("UploadId", func(t *testing.T) {
		st, _, b := s3Raw(t, srv, "GET", "/res/dir/k?uploadId=nope", nil, nil)
		if st != 404 || s3ErrorCode(b) != "NoSuchUpload" {
			t.Fatalf("%d %s", st, b)
		}
		wantElems(t, b, map[string]string{"UploadId": "nope"})
	})
	t.Run("Condition", func(t *testing.T) {
		st, _, b := s3Raw(t, srv, "GET", "/res/dir/k", http.Header{"If-Match": {`"0000"`}}, nil)
		if st != 412 {
			t.Fatalf("%d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Condition": "If-Match"})
		st, _, b = s3Raw(t, srv, "PUT", "/res/dir/k", http.Header{"If-None-Match": {"*"}}, []byte("x"))
		if st != 412 {
			t.Fatalf("%d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Condition": "If-None-Match"})
	})
	t.Run("Arguments", func(t *testing.T) {
		st, _, b := s3Raw(t, srv, "GET", "/res/dir/k?versionId=bogus", nil, nil)
		if st != 400 || s3ErrorCode(b) != "InvalidArgument" {
			t.Fatalf("malformed versionId: %d %s", st, b)
		}
		wantElems(t, b, map[string]string{"ArgumentName": "versionId", "ArgumentValue": "bogus"})
		st, _, b = s3Raw(t, srv, "PUT", "/res/dir/k?partNumber=10001&uploadId=u", nil, []byte("x"))
		if st != 400 || s3ErrorCode(b) != "InvalidArgument" {
			t.Fatalf("part number: %d %s", st, b)
		}
		wantElems(t, b, map[string]string{"ArgumentName": "partNumber", "ArgumentValue": "10001"})
		st, _, b = s3Raw(t, srv, "GET", "/res/dir/k", http.Header{"Range": {"bytes=10-20"}}, nil)
		if st != 416 || s3ErrorCode(b) != "InvalidRange" {
			t.Fatalf("range: %d %s", st, b)
		}
		wantElems(t, b, map[string]string{"RangeRequested": "bytes=10-20", "ActualObjectSize": "4"})
		st, _, b = s3Raw(t, srv, "PUT", "/res/dir/k", http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}}, []byte("x"))
		if st != 501 {
			t.Fatalf("encryption: %d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Header": "X-Amz-Server-Side-Encryption"})
		st, _, b = s3Raw(t, srv, "POST", "/res", nil, nil)
		if st != 501 {
			t.Fatalf("POST on a bucket: %d %s", st, b)
		}
		st, _, b = s3Raw(t, srv, "PUT", "/", nil, nil)
		if st != 405 || s3ErrorCode(b) != "MethodNotAllowed" {
			t.Fatalf("PUT /: %d %s", st, b)
		}
		wantElems(t, b, map[string]string{"Method": "PUT", "ResourceType": "SERVICE", "Resource": ""})
	})
	if got := s3Get(t, c, "res", "dir/k"); string(got) != "kept" || s3Put(t, c, "res", "dir/k", []byte("kept")) != etag {
		t.Fatal("refused requests changed the object")
	}
}

// TestS3_ConditionalWriteMissingKey shows that PutObject, CopyObject and
// CompleteMultipartUpload with If-Match on a key that does not exist
// answer 404 NoSuchKey naming the key, as S3 does, while a present key
// with another ETag stays 412; that If-Match: *, If-None-Match other than
// * and both at once are NotImplemented, as in S3; and that none of them
// writes anything.
func TestS3_ConditionalWriteMissingKey(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "cond")
	etag := s3Put(t, c, "cond", "present", []byte("present"))
	id := s3CreateUpload(t, c, "cond", "mpu-absent")
	done := s3UploadParts(t, c, "cond", "mpu-absent", id, [][]byte{[]byte("one part")}, "")
	before := s3Digests(t, srv, "cond")

	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cond"), Key: aws.String("absent"), Body: strings.NewReader("x"), IfMatch: aws.String(etag)})
	wantS3Error(t, err, "NoSuchKey", 404)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cond"), Key: aws.String("present"), Body: strings.NewReader("x"), IfMatch: aws.String(`"0000"`)})
	wantS3Error(t, err, "PreconditionFailed", 412)
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("cond"), Key: aws.String("absent"), CopySource: aws.String("cond/present"), IfMatch: aws.String(etag)})
	wantS3Error(t, err, "NoSuchKey", 404)
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("cond"), Key: aws.String("mpu-absent"), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}, IfMatch: aws.String(etag)})
	wantS3Error(t, err, "NoSuchKey", 404)

	st, _, b := s3Raw(t, srv, "PUT", "/cond/absent", http.Header{"If-Match": {etag}}, []byte("x"))
	if st != 404 || s3ErrorCode(b) != "NoSuchKey" {
		t.Fatalf("raw conditional PUT: %d %s", st, b)
	}
	wantElems(t, b, map[string]string{"Key": "absent"})
	for _, tc := range []struct {
		header http.Header
		named  string
	}{
		{http.Header{"If-Match": {"*"}}, "If-Match"},
		{http.Header{"If-None-Match": {etag}}, "If-None-Match"},
		{http.Header{"If-Match": {etag}, "If-None-Match": {"*"}}, "If-Match,If-None-Match"},
	} {
		st, _, b := s3Raw(t, srv, "PUT", "/cond/present", tc.header, []byte("x"))
		if st != 501 || s3ErrorCode(b) != "NotImplemented" {
			t.Fatalf("PUT with %v: %d %s", tc.header, st, b)
		}
		wantElems(t, b, map[string]string{"Header": tc.named})
	}
	if got := s3Digests(t, srv, "cond"); got != before {
		t.Fatalf("refused conditional writes changed the bucket:\n%s\n---\n%s", before, got)
	}
	if _, err := s3Complete(c, t, "cond", "mpu-absent", id, done); err != nil {
		t.Fatalf("the upload did not survive the refused Complete: %v", err)
	}
}

// TestS3_PartNumberBeyondParts shows that partNumber past an object's
// parts answers 416 InvalidPartNumber naming the part asked for and the
// part count (AWS, MinIO; not 400), on single-part and multipart objects,
// and that part 1 of a non-empty single-part object is the whole object
// as a 206 with Content-Range.
func TestS3_PartNumberBeyondParts(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "parts")
	s3Put(t, c, "parts", "single", []byte("abcdefgh"))
	id := s3CreateUpload(t, c, "parts", "multi")
	parts := [][]byte{s3Payload(90, 5<<20), []byte("tail")}
	if _, err := s3Complete(c, t, "parts", "multi", id, s3UploadParts(t, c, "parts", "multi", id, parts, "")); err != nil {
		t.Fatal(err)
	}

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("single"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "abcdefgh" || aws.ToString(out.ContentRange) != "bytes 0-7/8" || out.PartsCount != nil ||
		s3StatusOf(out.ResultMetadata) != 206 {
		t.Fatalf("part 1 of a single-part object: %q range %q parts %v status %d", b, aws.ToString(out.ContentRange), out.PartsCount, s3StatusOf(out.ResultMetadata))
	}
	for _, tc := range []struct {
		key         string
		n, actual   int
		wantElemsOf string
	}{
		{"single", 2, 1, "1"},
		{"multi", 10, 2, "2"},
	} {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String(tc.key), PartNumber: aws.Int32(int32(tc.n))})
		wantS3Error(t, err, "InvalidPartNumber", 416)
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("parts"), Key: aws.String(tc.key), PartNumber: aws.Int32(int32(tc.n))})
		if _, st := s3Code(err); st != 416 {
			t.Fatalf("HEAD %s part %d: %v", tc.key, tc.n, err)
		}
		st, _, body := s3Raw(t, srv, "GET", "/parts/"+tc.key+"?partNumber="+itoa(tc.n), nil, nil)
		if st != 416 {
			t.Fatalf("%d %s", st, body)
		}
		wantElems(t, body, map[string]string{"PartNumberRequested": itoa(tc.n), "ActualPartCount": tc.wantElemsOf})
	}
}

// TestS3_CompleteUnknownUpload shows that CompleteMultipartUpload looks
// the upload up before it reads the part list: an unknown id answers 404
// NoSuchUpload naming it, whatever the list (ETags cairn never gave,
// parts out of order, none at all), while a retry of a Complete that
// succeeded still answers 200.
func TestS3_CompleteUnknownUpload(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "mpu")
	for name, body := range map[string]string{
		"ShortETag":  `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part></CompleteMultipartUpload>`,
		"Descending": `<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>"0123456789abcdef0123456789abcdef"</ETag></Part><Part><PartNumber>1</PartNumber><ETag>"0123456789abcdef0123456789abcdef"</ETag></Part></CompleteMultipartUpload>`,
		"Empty":      ``,
		"NoParts":    `<CompleteMultipartUpload/>`,
		"Malformed":  `<CompleteMultipartUpload><Part>`,
	} {
		t.Run(name, func(t *testing.T) {
			st, _, b := s3Raw(t, srv, "POST", "/mpu/obj?uploadId=nonexistent", nil, []byte(body))
			if st != 404 || s3ErrorCode(b) != "NoSuchUpload" {
				t.Fatalf("%d %s", st, b)
			}
			wantElems(t, b, map[string]string{"UploadId": "nonexistent"})
		})
	}
	_, err := s3Complete(c, t, "mpu", "obj", "nonexistent", []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"abc"`)}})
	wantS3Error(t, err, "NoSuchUpload", 404)

	id := s3CreateUpload(t, c, "mpu", "obj")
	done := s3UploadParts(t, c, "mpu", "obj", id, [][]byte{[]byte("only part")}, "")
	first, err := s3Complete(c, t, "mpu", "obj", id, done)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s3Complete(c, t, "mpu", "obj", id, done)
	if err != nil || aws.ToString(again.ETag) != aws.ToString(first.ETag) {
		t.Fatalf("retried Complete: %v %+v", err, again)
	}
}

// TestS3_MissingBucketFirst shows the cheap fixes of S3's error order:
// requests on an upload of a bucket that does not exist are NoSuchBucket,
// not NoSuchUpload; a malformed versionId is 400 InvalidArgument, not 404;
// a versioning status other than Enabled or Suspended is MalformedXML.
func TestS3_MissingBucketFirst(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "here")
	s3Put(t, c, "here", "k", []byte("k"))
	_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("gone"), Key: aws.String("k"), UploadId: aws.String("u"), PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))})
	wantS3Error(t, err, "NoSuchBucket", 404)
	_, err = s3Complete(c, t, "gone", "k", "u", []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"0123456789abcdef0123456789abcdef"`)}})
	wantS3Error(t, err, "NoSuchBucket", 404)
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("gone"), Key: aws.String("k"), UploadId: aws.String("u")})
	wantS3Error(t, err, "NoSuchBucket", 404)
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("gone"), Key: aws.String("k"), UploadId: aws.String("u")})
	wantS3Error(t, err, "NoSuchBucket", 404)
	for _, op := range []func() error{
		func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("here"), Key: aws.String("k"), VersionId: aws.String("bogus")})
			return err
		},
		func() error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("here"), Key: aws.String("k"), VersionId: aws.String("bogus")})
			return err
		},
	} {
		wantS3Error(t, op(), "InvalidArgument", 400)
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("here"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: "Bogus"}})
	wantS3Error(t, err, "MalformedXML", 400)
	if got := s3Get(t, c, "here", "k"); string(got) != "k" {
		t.Fatal("the object changed")
	}
}
