package daemon

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// tamperTransport flips one byte of every PUT body at a wire offset: the
// body changes after the client signed and checksummed it.
type tamperTransport struct {
	base http.RoundTripper
	at   int64
}

func (tt tamperTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Body != nil {
		r.Body = &flipReader{rc: r.Body, at: tt.at}
		r.GetBody = nil
	}
	return tt.base.RoundTrip(r)
}

type flipReader struct {
	rc  io.ReadCloser
	at  int64
	off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.rc.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0x20
	}
	f.off += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.rc.Close() }

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestS3_BadInput sends requests that must be refused, each with its S3
// error code, and shows that none of them changed what was stored.
func TestS3_BadInput(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "bad")
	kept := s3Payload(50, 200<<10)
	s3Put(t, c, "bad", "keep/a", kept)
	id := s3CreateUpload(t, c, "bad", "mpu")
	done := s3UploadParts(t, c, "bad", "mpu", id, [][]byte{[]byte("tiny part"), []byte("last part")}, "")
	before := stateOf(snapshotState(t, srv))
	digests := s3Digests(t, srv, "bad")
	k := s3Creds(t, srv)

	raw := []struct {
		name, method, target string
		header               http.Header
		body                 string
		status               int
		code                 string
	}{
		{"CompleteMalformedXML", "POST", "/bad/mpu?uploadId=" + id, nil, "<CompleteMultipartUpload><Part>", 400, "MalformedXML"},
		{"CompleteNoParts", "POST", "/bad/mpu?uploadId=" + id, nil, "<CompleteMultipartUpload></CompleteMultipartUpload>", 400, "InvalidRequest"},
		{"CompleteMissingPart", "POST", "/bad/mpu?uploadId=" + id, nil,
			`<CompleteMultipartUpload><Part><PartNumber>3</PartNumber><ETag>"0123456789abcdef0123456789abcdef"</ETag></Part></CompleteMultipartUpload>`, 400, "InvalidPart"},
		{"CompleteSmallPart", "POST", "/bad/mpu?uploadId=" + id, nil,
			`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + aws.ToString(done[0].ETag) + `</ETag></Part>` +
				`<Part><PartNumber>2</PartNumber><ETag>` + aws.ToString(done[1].ETag) + `</ETag></Part></CompleteMultipartUpload>`, 400, "EntityTooSmall"},
		{"CompletePartNumberWord", "POST", "/bad/mpu?uploadId=" + id, nil,
			`<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`, 400, "MalformedXML"},
		{"CompletePartNumberHuge", "POST", "/bad/mpu?uploadId=" + id, nil,
			`<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`, 400, "MalformedXML"},
		{"CompleteBadETag", "POST", "/bad/mpu?uploadId=" + id, nil,
			`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"zz"</ETag></Part></CompleteMultipartUpload>`, 400, "InvalidPart"},
		{"DeleteMalformedXML", "POST", "/bad?delete", nil, "<Delete><Object><Key>keep/a</Key></Object>", 400, "MalformedXML"},
		{"DeleteDeepXML", "POST", "/bad?delete", nil, strings.Repeat("<a>", 20000), 400, "MalformedXML"},
		{"ContentMD5Mismatch", "PUT", "/bad/keep/a", http.Header{"Content-Md5": {"1B2M2Y8AsgTpgAmY7PhCfg=="}}, "other", 400, "BadDigest"},
		{"ContentMD5Invalid", "PUT", "/bad/keep/a", http.Header{"Content-Md5": {"not-md5"}}, "other", 400, "InvalidDigest"},
		{"DotDotKey", "PUT", "/bad/x/../keep/a", nil, "other", 400, "InvalidArgument"},
		{"DotKey", "PUT", "/bad/keep/./a", nil, "other", 400, "InvalidArgument"},
		{"EscapedDotDotKey", "PUT", "/bad/x/%2E%2E/keep/a", nil, "other", 400, "InvalidArgument"},
		{"NULKey", "PUT", "/bad/keep%00a", nil, "other", 400, "InvalidArgument"},
		{"LongKey", "PUT", "/bad/" + strings.Repeat("k", 1025), nil, "other", 400, "KeyTooLongError"},
		{"MultipartDotDot", "POST", "/bad/a/../b?uploads", nil, "", 400, "InvalidArgument"},
		{"CopyDotDot", "PUT", "/bad/a/../keep/a", http.Header{"X-Amz-Copy-Source": {"bad/keep/a"}}, "", 400, "InvalidArgument"},
		{"NoSuchBucket", "PUT", "/nobucket/k", nil, "other", 404, "NoSuchBucket"},
		{"Encryption", "PUT", "/bad/keep/a", http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}}, "other", 501, "NotImplemented"},
		{"BadBucketName", "PUT", "/Bad_Bucket", nil, "", 400, "InvalidBucketName"},
		{"BadLocation", "PUT", "/newbucket", nil, "<CreateBucketConfiguration><LocationConstraint>", 400, "MalformedXML"},
		{"ObjectRetention", "PUT", "/bad/keep/a?retention", nil, "<Retention/>", 501, "NotImplemented"},
	}
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			st, h, b := s3Raw(t, srv, tc.method, tc.target, tc.header, []byte(tc.body))
			if st != tc.status || s3ErrorCode(b) != tc.code || h.Get("X-Amz-Request-Id") == "" || h.Get("Content-Length") == "" {
				t.Fatalf("%s %s: %d %s, want %d %s", tc.method, tc.target, st, b, tc.status, tc.code)
			}
			if goTypeRE.Match(b) {
				t.Fatalf("%s %s: the answer names Go's types: %s", tc.method, tc.target, b)
			}
		})
	}
	t.Run("BodyAlteredAfterSigning", func(t *testing.T) {
		// The payload's SHA-256 is signed: a changed byte no longer
		// matches it.
		req := s3SignedRequest(t, srv.URL()+"/bad/keep/a", "PUT", nil, []byte("signed body"), k.AccessKey, k.SecretKey)
		req.Body = io.NopCloser(strings.NewReader("Signed body"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || s3ErrorCode(b) != "XAmzContentSHA256Mismatch" {
			t.Fatalf("altered body: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("EntityTooLarge", func(t *testing.T) {
		// A single PUT over 5 GiB is refused before any byte is sent:
		// the client waits for 100-continue and gets the error.
		req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/bad/huge", io.LimitReader(zeros{}, 1<<20))
		req.ContentLength = 6 << 30
		req.Header.Set("Expect", "100-continue")
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		creds := aws.Credentials{AccessKeyID: k.AccessKey, SecretAccessKey: k.SecretKey}
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", s3Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || s3ErrorCode(b) != "EntityTooLarge" {
			t.Fatalf("6 GiB PUT: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("InvalidRangeHeader", func(t *testing.T) {
		st, h, b := s3Raw(t, srv, "GET", "/bad/keep/a", http.Header{"Range": {"bytes=99999999-"}}, nil)
		if st != 416 || s3ErrorCode(b) != "InvalidRange" || h.Get("Content-Range") != "bytes */204800" {
			t.Fatalf("range past the end: %d %q %s", st, h.Get("Content-Range"), b)
		}
	})
	t.Run("SignedChunkAltered", func(t *testing.T) {
		mc, err := minio.New(srv.Addr(), &minio.Options{Creds: miniocreds.NewStaticV4(k.AccessKey, k.SecretKey, ""), Region: s3Region,
			BucketLookup: minio.BucketLookupPath, MaxRetries: 1, Transport: tamperTransport{http.DefaultTransport, 300}})
		if err != nil {
			t.Fatal(err)
		}
		data := s3Payload(51, 100<<10)
		_, err = mc.PutObject(ctx, "bad", "keep/a", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		if code := minio.ToErrorResponse(err).Code; code != "SignatureDoesNotMatch" {
			t.Fatalf("altered signed chunk: %v", err)
		}
	})
	t.Run("TrailerChecksumAltered", func(t *testing.T) {
		// Over TLS the SDK sends unsigned aws-chunked data protected by a
		// CRC32 trailer.
		tc := s3SDKTLS(t, srv, func(o *s3.Options) {
			o.HTTPClient = &http.Client{Transport: tamperTransport{o.HTTPClient.(*http.Client).Transport, 300}}
		})
		_, err := tc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bad"), Key: aws.String("keep/a"), Body: bytes.NewReader(s3Payload(52, 100<<10))})
		wantS3Error(t, err, "BadDigest", 400)
	})
	t.Run("SDKContentMD5", func(t *testing.T) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bad"), Key: aws.String("keep/a"), Body: strings.NewReader("other"),
			ContentMD5: aws.String("1B2M2Y8AsgTpgAmY7PhCfg==")})
		wantS3Error(t, err, "BadDigest", 400)
	})
	t.Run("UnknownAccessKey", func(t *testing.T) {
		bad := s3SDKAt(t, srv.URL(), http.DefaultClient, "AKIANOBODY", k.SecretKey)
		_, err := bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bad"), Key: aws.String("keep/a"), Body: strings.NewReader("other")})
		wantS3Error(t, err, "InvalidAccessKeyId", 403)
		_, err = bad.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bad"), Key: aws.String("keep/a")})
		wantS3Error(t, err, "InvalidAccessKeyId", 403)
	})
	if after := stateOf(snapshotState(t, srv)); after != before {
		t.Fatalf("refused requests changed the state:\n%s\n---\n%s", before, after)
	}
	if got := s3Digests(t, srv, "bad"); got != digests {
		t.Fatalf("refused requests changed the bucket:\n%s\n---\n%s", digests, got)
	}
	if !bytes.Equal(s3Get(t, c, "bad", "keep/a"), kept) {
		t.Fatal("keep/a changed")
	}
}
