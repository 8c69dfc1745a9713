package sigv4_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"cairn/daemon/internal/sigv4"

	"github.com/minio/minio-go/v7"
)

// minioChecksum returns the checksum of the given algorithm from an upload.
func minioChecksum(info minio.UploadInfo, alg string) string {
	return map[string]string{
		sigv4.ChecksumCRC32: info.ChecksumCRC32, sigv4.ChecksumCRC32C: info.ChecksumCRC32C,
		sigv4.ChecksumCRC64NVME: info.ChecksumCRC64NVME, sigv4.ChecksumSHA1: info.ChecksumSHA1,
		sigv4.ChecksumSHA256: info.ChecksumSHA256,
	}[alg]
}

// TestMinioPutObject uploads through minio-go. Over plain HTTP it signs
// every 64 KiB chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), and signs the
// trailer too when a checksum is asked for (-TRAILER); with
// DisableContentSha256 or over TLS it sends UNSIGNED-PAYLOAD, or unsigned
// chunks with a checksum trailer when a checksum is asked for.
func TestMinioPutObject(t *testing.T) {
	cases := []struct {
		name string
		tls  bool
		opts minio.PutObjectOptions
		size int
		alg  string // checksum expected, "" for none
		want sigv4.PayloadKind
	}{
		{"signed empty", false, minio.PutObjectOptions{}, 0, "", sigv4.PayloadStreamingSigned},
		{"signed one byte", false, minio.PutObjectOptions{}, 1, "", sigv4.PayloadStreamingSigned},
		{"signed one chunk", false, minio.PutObjectOptions{}, 64 << 10, "", sigv4.PayloadStreamingSigned},
		{"signed chunks", false, minio.PutObjectOptions{}, 300<<10 + 5, "", sigv4.PayloadStreamingSigned},
		{"signed with md5", false, minio.PutObjectOptions{SendContentMd5: true}, 100 << 10, "", sigv4.PayloadStreamingSigned},
		{"signed trailer crc32", false, minio.PutObjectOptions{Checksum: minio.ChecksumCRC32}, 200<<10 + 3, sigv4.ChecksumCRC32, sigv4.PayloadStreamingSignedTrailer},
		{"signed trailer crc32c", false, minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}, 200<<10 + 3, sigv4.ChecksumCRC32C, sigv4.PayloadStreamingSignedTrailer},
		{"signed trailer crc64nvme", false, minio.PutObjectOptions{Checksum: minio.ChecksumCRC64NVME}, 200<<10 + 3, sigv4.ChecksumCRC64NVME, sigv4.PayloadStreamingSignedTrailer},
		{"signed trailer sha1", false, minio.PutObjectOptions{Checksum: minio.ChecksumSHA1}, 200<<10 + 3, sigv4.ChecksumSHA1, sigv4.PayloadStreamingSignedTrailer},
		{"signed trailer sha256", false, minio.PutObjectOptions{Checksum: minio.ChecksumSHA256}, 200<<10 + 3, sigv4.ChecksumSHA256, sigv4.PayloadStreamingSignedTrailer},
		{"unsigned", false, minio.PutObjectOptions{DisableContentSha256: true}, 200<<10 + 3, "", sigv4.PayloadUnsigned},
		{"unsigned trailer", false, minio.PutObjectOptions{DisableContentSha256: true, Checksum: minio.ChecksumCRC32C}, 200<<10 + 3, sigv4.ChecksumCRC32C, sigv4.PayloadStreamingUnsignedTrailer},
		{"unsigned trailer crc64nvme", false, minio.PutObjectOptions{DisableContentSha256: true, Checksum: minio.ChecksumCRC64NVME}, 200<<10 + 3, sigv4.ChecksumCRC64NVME, sigv4.PayloadStreamingUnsignedTrailer},
		{"tls", true, minio.PutObjectOptions{}, 200<<10 + 3, "", sigv4.PayloadUnsigned},
		{"tls trailer sha256", true, minio.PutObjectOptions{Checksum: minio.ChecksumSHA256}, 200<<10 + 3, sigv4.ChecksumSHA256, sigv4.PayloadStreamingUnsignedTrailer},
		{"tls empty", true, minio.PutObjectOptions{}, 0, "", sigv4.PayloadUnsigned},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, c.tls, nil)
			data := payload(uint64(100+i), c.size)
			info, err := s.minio(t, testAccessKey, testSecretKey, nil).PutObject(context.Background(), testBucket, "obj",
				bytes.NewReader(data), int64(len(data)), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := s.last(t)
			checkSeen(t, got, data)
			if got.Payload != c.want {
				t.Errorf("payload %v, want %v", got.Payload, c.want)
			}
			if c.alg == "" && len(got.Checksums) != 0 {
				t.Errorf("checksums %v, want none", got.Checksums)
			}
			if c.alg != "" {
				want, _ := sigv4.ChecksumBase64(c.alg, data)
				if got.Checksums[c.alg] != want || minioChecksum(info, c.alg) != want {
					t.Errorf("server checksums %v, client %q, want %s %s", got.Checksums, minioChecksum(info, c.alg), c.alg, want)
				}
			}
			if _, md := digests(data); info.ETag != md || got.Encoding != "" {
				t.Errorf("ETag %s, want %s; stored encoding %q", info.ETag, md, got.Encoding)
			}
		})
	}
}

// TestMinioObjectKeys sends the awkward keys through minio-go's signed
// chunked PutObject, GetObject and presigned GET.
func TestMinioObjectKeys(t *testing.T) {
	s := newServer(t, false, nil)
	client := s.minio(t, testAccessKey, testSecretKey, nil)
	ctx := context.Background()
	for _, key := range objectKeys {
		t.Run(key, func(t *testing.T) {
			data := []byte("key " + key)
			if _, err := client.PutObject(ctx, testBucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
				t.Fatalf("put: %v", err)
			}
			if got := s.last(t); got.Path != "/"+testBucket+"/"+key || got.Payload != sigv4.PayloadStreamingSigned {
				t.Fatalf("put saw path %q payload %v", got.Path, got.Payload)
			}
			obj, err := client.GetObject(ctx, testBucket, key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(body, getContent) {
				t.Fatalf("get: %q, %v", body, err)
			}
			u, err := client.PresignedGetObject(ctx, testBucket, key, time.Hour, url.Values{"response-content-type": {"text/plain; a=b"}})
			if err != nil {
				t.Fatal(err)
			}
			if status, code := do(t, s, http.MethodGet, u.String(), nil, nil); status != 200 {
				t.Fatalf("presigned get: %d %s", status, code)
			}
			if got := s.last(t); got.Path != "/"+testBucket+"/"+key {
				t.Fatalf("presigned get path %q", got.Path)
			}
		})
	}
}

// TestMinioRejects checks the S3 error minio-go receives for bad keys.
func TestMinioRejects(t *testing.T) {
	cases := []struct {
		name, ak, sk, code string
		configure          func(*sigv4.Verifier)
	}{
		{"wrong secret", testAccessKey, "wrong", "SignatureDoesNotMatch", nil},
		{"unknown access key", "AKIAUNKNOWN", testSecretKey, "InvalidAccessKeyId", nil},
		{"skewed clock", testAccessKey, testSecretKey, "RequestTimeTooSkewed", func(v *sigv4.Verifier) {
			v.Now = func() time.Time { return time.Now().Add(time.Hour) }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, false, c.configure)
			data := payload(5, 100<<10)
			_, err := s.minio(t, c.ak, c.sk, nil).PutObject(context.Background(), testBucket, "obj",
				bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
			if code := minio.ToErrorResponse(err).Code; code != c.code {
				t.Fatalf("err = %v (code %q), want %s", err, code, c.code)
			}
		})
	}
}
