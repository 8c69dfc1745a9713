package sigv4_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"testing"
	"time"

	"cairn/daemon/internal/sigv4"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// sdkChecksum returns the checksum of the given algorithm from a
// PutObject output.
func sdkChecksum(out *s3.PutObjectOutput, alg string) string {
	return aws.ToString(map[string]*string{
		sigv4.ChecksumCRC32: out.ChecksumCRC32, sigv4.ChecksumCRC32C: out.ChecksumCRC32C,
		sigv4.ChecksumCRC64NVME: out.ChecksumCRC64NVME, sigv4.ChecksumSHA1: out.ChecksumSHA1,
		sigv4.ChecksumSHA256: out.ChecksumSHA256,
	}[alg])
}

// unseekable hides the Seek of a reader, so the SDK cannot know its length.
type unseekable struct{ io.Reader }

// TestAWSSDKPutObject uploads through aws-sdk-go-v2: over plain HTTP it
// signs the payload's SHA-256 and sends the checksum as a header; over TLS
// it sends STREAMING-UNSIGNED-PAYLOAD-TRAILER aws-chunked bodies with the
// checksum as a trailer. The server must see exactly the bytes sent, and
// its verified checksum must be the one the SDK computed.
func TestAWSSDKPutObject(t *testing.T) {
	cases := []struct {
		name       string
		tls        bool
		alg        types.ChecksumAlgorithm
		size       int
		unseekable bool
		want       sigv4.PayloadKind
	}{
		{"http empty", false, "", 0, false, sigv4.PayloadSHA256},
		{"http one byte", false, "", 1, false, sigv4.PayloadSHA256},
		{"http crc32", false, types.ChecksumAlgorithmCrc32, 100<<10 + 7, false, sigv4.PayloadSHA256},
		{"http crc32c", false, types.ChecksumAlgorithmCrc32c, 100<<10 + 7, false, sigv4.PayloadSHA256},
		{"http crc64nvme", false, types.ChecksumAlgorithmCrc64nvme, 100<<10 + 7, false, sigv4.PayloadSHA256},
		{"http sha1", false, types.ChecksumAlgorithmSha1, 100<<10 + 7, false, sigv4.PayloadSHA256},
		{"http sha256", false, types.ChecksumAlgorithmSha256, 100<<10 + 7, false, sigv4.PayloadSHA256},
		{"tls empty", true, "", 0, false, sigv4.PayloadUnsigned},
		{"tls one byte", true, "", 1, false, sigv4.PayloadStreamingUnsignedTrailer},
		{"tls crc32", true, types.ChecksumAlgorithmCrc32, 300<<10 + 7, false, sigv4.PayloadStreamingUnsignedTrailer},
		{"tls crc32c", true, types.ChecksumAlgorithmCrc32c, 300<<10 + 7, false, sigv4.PayloadStreamingUnsignedTrailer},
		{"tls crc64nvme", true, types.ChecksumAlgorithmCrc64nvme, 300<<10 + 7, false, sigv4.PayloadStreamingUnsignedTrailer},
		{"tls sha1", true, types.ChecksumAlgorithmSha1, 300<<10 + 7, false, sigv4.PayloadStreamingUnsignedTrailer},
		{"tls sha256", true, types.ChecksumAlgorithmSha256, 300<<10 + 7, false, sigv4.PayloadStreamingUnsignedTrailer},
		{"tls unseekable", true, types.ChecksumAlgorithmCrc32c, 200<<10 + 1, true, sigv4.PayloadStreamingUnsignedTrailer},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, c.tls, nil)
			data := payload(uint64(i), c.size)
			in := &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("obj"), ChecksumAlgorithm: c.alg}
			if c.unseekable {
				in.Body = unseekable{bytes.NewReader(data)}
			} else {
				in.Body = bytes.NewReader(data)
			}
			out, err := s.sdk(t, testSecretKey).PutObject(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			got := s.last(t)
			checkSeen(t, got, data)
			if got.Payload != c.want {
				t.Errorf("payload %v, want %v", got.Payload, c.want)
			}
			alg := string(c.alg)
			if alg == "" {
				alg = sigv4.ChecksumCRC32 // the SDK's default
			}
			want, _ := sigv4.ChecksumBase64(alg, data)
			if got.Checksums[alg] != want || sdkChecksum(out, alg) != want || len(got.Checksums) != 1 {
				t.Errorf("server checksums %v, SDK %s %q, want %s %s", got.Checksums, alg, sdkChecksum(out, alg), alg, want)
			}
			if _, md := digests(data); aws.ToString(out.ETag) != `"`+md+`"` {
				t.Errorf("ETag %s, want MD5 %s", aws.ToString(out.ETag), md)
			}
		})
	}
}

// TestAWSSDKObjectKeys sends keys full of characters that encoders treat
// differently through PutObject, GetObject, a presigned GET, and a listing
// with the key as prefix; the server must see the key, decoded, unchanged.
func TestAWSSDKObjectKeys(t *testing.T) {
	s := newServer(t, false, nil)
	client := s.sdk(t, testSecretKey)
	presign := s3.NewPresignClient(client)
	ctx := context.Background()
	for _, key := range objectKeys {
		t.Run(key, func(t *testing.T) {
			data := []byte("key " + key)
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
				t.Fatalf("put: %v", err)
			}
			if got := s.last(t); got.Path != "/"+testBucket+"/"+key {
				t.Fatalf("put path %q, want %q", got.Path, "/"+testBucket+"/"+key)
			}
			obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			body, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if !bytes.Equal(body, getContent) || s.last(t).Path != "/"+testBucket+"/"+key {
				t.Fatalf("get returned %q for path %q", body, s.last(t).Path)
			}
			req, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if status, code := do(t, s, req.Method, req.URL, req.SignedHeader, nil); status != 200 {
				t.Fatalf("presigned get: %d %s", status, code)
			}
			if got := s.last(t); !got.Presigned || got.Path != "/"+testBucket+"/"+key {
				t.Fatalf("presigned get saw %+v", got)
			}
			if _, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(key), Delimiter: aws.String("/"), StartAfter: aws.String(key)}); err != nil {
				t.Fatalf("list: %v", err)
			}
		})
	}
}

// objectKeys are keys that exercise path encoding.
var objectKeys = []string{
	"plain.txt", "with space", "plus+sign", "equals=sign", "tilde~", "percent%25and%", "unicode-ünïcødé-✓-日本",
	"bang!", "paren(s)", "star*", "quote'", "amp&", "dollar$", "at@", "colon:", "comma,", "semi;",
	"dir//double//slash", "trailing/", "dots/./and/../x", "all !()*'&$@:,;=+~%", "question?mark", "hash#tag",
	"brackets[]{}", "angle<>", "back\\slash", "caret^pipe|", "tab\tkey",
}

// TestAWSSDKRejects checks the S3 error aws-sdk-go-v2 receives for bad
// credentials, clocks, regions and digests.
func TestAWSSDKRejects(t *testing.T) {
	data := payload(3, 10<<10)
	other := md5.Sum([]byte("other"))
	wrongCRC, _ := sigv4.ChecksumBase64(sigv4.ChecksumCRC32, []byte("other"))
	cases := []struct {
		name      string
		tls       bool
		ak, sk    string
		configure func(*sigv4.Verifier)
		edit      func(*s3.PutObjectInput)
		code      string
	}{
		{"wrong secret", false, testAccessKey, "wrong", nil, nil, "SignatureDoesNotMatch"},
		{"wrong secret tls", true, testAccessKey, "wrong", nil, nil, "SignatureDoesNotMatch"},
		{"unknown access key", false, "AKIAUNKNOWN", testSecretKey, nil, nil, "InvalidAccessKeyId"},
		{"server clock ahead", false, testAccessKey, testSecretKey, func(v *sigv4.Verifier) {
			v.Now = func() time.Time { return time.Now().Add(16 * time.Minute) }
		}, nil, "RequestTimeTooSkewed"},
		{"server clock behind", true, testAccessKey, testSecretKey, func(v *sigv4.Verifier) {
			v.Now = func() time.Time { return time.Now().Add(-16 * time.Minute) }
		}, nil, "RequestTimeTooSkewed"},
		{"wrong region", false, testAccessKey, testSecretKey, func(v *sigv4.Verifier) { v.Region = "eu-west-1" }, nil, "AuthorizationHeaderMalformed"},
		{"content-md5 mismatch", false, testAccessKey, testSecretKey, nil, func(in *s3.PutObjectInput) {
			in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(other[:]))
		}, "BadDigest"},
		{"content-md5 mismatch tls", true, testAccessKey, testSecretKey, nil, func(in *s3.PutObjectInput) {
			in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(other[:]))
		}, "BadDigest"},
		{"content-md5 malformed", false, testAccessKey, testSecretKey, nil, func(in *s3.PutObjectInput) {
			in.ContentMD5 = aws.String("not-an-md5")
		}, "InvalidDigest"},
		{"checksum header mismatch", false, testAccessKey, testSecretKey, nil, func(in *s3.PutObjectInput) {
			in.ChecksumCRC32 = aws.String(wrongCRC)
		}, "BadDigest"},
		{"checksum header mismatch tls", true, testAccessKey, testSecretKey, nil, func(in *s3.PutObjectInput) {
			in.ChecksumCRC32 = aws.String(wrongCRC)
		}, "BadDigest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, c.tls, c.configure)
			in := &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("obj"), Body: bytes.NewReader(data)}
			if c.edit != nil {
				c.edit(in)
			}
			_, err := s.sdkAs(t, c.ak, c.sk, testRegion, s.Client()).PutObject(context.Background(), in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != c.code {
				t.Fatalf("err = %v, want code %s", err, c.code)
			}
		})
	}
}
