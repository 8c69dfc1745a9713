package sigv4_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"cairn/daemon/internal/sigv4"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

// wireClient uploads data through a real client whose transport captures
// the request instead of sending it.
type wireClient struct {
	name   string
	tls    bool
	upload func(t *testing.T, s *server, rt http.RoundTripper, data []byte) error
	// codes S3 answers when a data byte, or the checksum trailer, changed.
	flipped, trailer string
}

var wireClients = []wireClient{
	{"aws-sdk http", false, func(t *testing.T, s *server, rt http.RoundTripper, data []byte) error {
		_, err := s.sdkAs(t, testAccessKey, testSecretKey, testRegion, &http.Client{Transport: rt}).PutObject(context.Background(),
			&s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("obj"), Body: bytes.NewReader(data)})
		return err
	}, "XAmzContentSHA256Mismatch", ""},
	{"aws-sdk tls trailer", true, func(t *testing.T, s *server, rt http.RoundTripper, data []byte) error {
		_, err := s.sdkAs(t, testAccessKey, testSecretKey, testRegion, &http.Client{Transport: rt}).PutObject(context.Background(),
			&s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("obj"), Body: bytes.NewReader(data),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		return err
	}, "BadDigest", "BadDigest"},
	{"minio signed chunks", false, minioUpload(minio.PutObjectOptions{}), "SignatureDoesNotMatch", ""},
	{"minio signed trailer", false, minioUpload(minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}), "SignatureDoesNotMatch", "SignatureDoesNotMatch"},
	{"minio unsigned trailer", false, minioUpload(minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C, DisableContentSha256: true}), "BadDigest", "BadDigest"},
}

func minioUpload(opts minio.PutObjectOptions) func(*testing.T, *server, http.RoundTripper, []byte) error {
	return func(t *testing.T, s *server, rt http.RoundTripper, data []byte) error {
		_, err := s.minio(t, testAccessKey, testSecretKey, rt).PutObject(context.Background(), testBucket, "obj",
			bytes.NewReader(data), int64(len(data)), opts)
		return err
	}
}

// TestWireTampering captures the exact bytes real clients send, then
// replays them to the server unchanged, with a payload byte flipped, cut
// short, with another checksum in the trailer, and with its signing time
// moved by a second. Only the unchanged request may succeed, and the server must
// never report a clean end of body for the others.
func TestWireTampering(t *testing.T) {
	data := payload(11, 150<<10+9)
	otherCRC, _ := sigv4.ChecksumBase64(sigv4.ChecksumCRC32C, []byte("other"))
	for _, c := range wireClients {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, c.tls, nil)
			var cp capture
			if err := c.upload(t, s, &cp, data); err != nil {
				t.Fatal(err)
			}
			raw := cp.only(t)
			head := bytes.Index(raw, []byte("\r\n\r\n")) + 4
			at := bytes.Index(raw[head:], data[1000:1032]) + head
			if at < head || !strings.Contains(string(raw[:head]), "X-Amz-Date: ") {
				t.Fatalf("captured request lacks the payload or X-Amz-Date:\n%s", raw[:head])
			}
			cases := []struct {
				name string
				edit func([]byte) []byte
				code string
			}{
				{"unchanged", func(b []byte) []byte { return b }, ""},
				{"payload byte flipped", func(b []byte) []byte { b[at] ^= 0x40; return b }, c.flipped},
				{"cut in payload", func(b []byte) []byte { return b[:at] }, "IncompleteBody"},
				{"last byte missing", func(b []byte) []byte { return b[:len(b)-1] }, "IncompleteBody"},
				{"signing second changed", func(b []byte) []byte {
					i := bytes.Index(b, []byte("X-Amz-Date: ")) + len("X-Amz-Date: 20060102T15040")
					b[i] = '0' + (b[i]-'0'+1)%10
					return b
				}, "SignatureDoesNotMatch"},
			}
			if c.trailer != "" {
				cases = append(cases, struct {
					name string
					edit func([]byte) []byte
					code string
				}{"trailer checksum changed", func(b []byte) []byte {
					i := bytes.LastIndex(b, []byte("x-amz-checksum-crc32c:")) + len("x-amz-checksum-crc32c:")
					copy(b[i:], otherCRC)
					return b
				}, c.trailer})
			}
			for _, m := range cases {
				t.Run(m.name, func(t *testing.T) {
					status, code := s.replay(t, m.edit(bytes.Clone(raw)))
					if code != m.code || (m.code == "") != (status == 200) {
						t.Fatalf("got %d %q, want %q (server: %v)", status, code, m.code, s.last(t).Err)
					}
					got := s.last(t)
					if m.code == "" {
						checkSeen(t, got, data)
					} else if got.Err == nil {
						t.Fatal("server read the body to a clean end")
					}
				})
			}
		})
	}
}
