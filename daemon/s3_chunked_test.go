package daemon

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3StreamPut sends a PUT whose body has no declared length, so that Go's
// client sends it with Transfer-Encoding: chunked and no Content-Length,
// signed with payloadHash as its x-amz-content-sha256 (no aws-chunked
// framing).
func s3StreamPut(t testing.TB, srv *Server, target string, body []byte, payloadHash string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, srv.URL()+target, io.NopCloser(io.MultiReader(bytes.NewReader(body))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	k := s3Creds(t, srv)
	creds := aws.Credentials{AccessKeyID: k.AccessKey, SecretAccessKey: k.SecretKey}
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(t.Context(), creds, req, payloadHash, "s3", s3Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestS3_ChunkedPut shows that a PutObject sent with Transfer-Encoding:
// chunked, no Content-Length and no aws-chunked framing is stored (a cairn
// extension: S3 answers 501), with its signed payload hash verified at its
// end and the size limit enforced as it is read: a body that fails either
// stores nothing. UploadPart takes such a body too.
func TestS3_ChunkedPut(t *testing.T) {
	const limit = 1 << 20
	srv := newTestServer(t, func(c *Config) { c.MaxObjectSize = limit })
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "stream")
	data := s3Payload(80, 700<<10)
	for _, tc := range []struct{ name, hash string }{
		{"Signed", sha256Hex(data)},
		{"Unsigned", "UNSIGNED-PAYLOAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "obj-" + tc.name
			st, h, b := s3StreamPut(t, srv, "/stream/"+key, data, tc.hash)
			if want := fmt.Sprintf(`"%x"`, md5.Sum(data)); st != 200 || h.Get("ETag") != want {
				t.Fatalf("chunked PUT: %d ETag %s %s, want 200 %s", st, h.Get("ETag"), b, want)
			}
			if got := s3Get(t, c, "stream", key); !bytes.Equal(got, data) || !bytes.Equal(s3Stored(t, srv, "stream", key), data) {
				t.Fatal("read back differs")
			}
		})
	}
	before := s3Digests(t, srv, "stream")
	t.Run("HashMismatch", func(t *testing.T) {
		st, _, b := s3StreamPut(t, srv, "/stream/bad-hash", data, sha256Hex([]byte("other")))
		if st != 400 || s3ErrorCode(b) != "XAmzContentSHA256Mismatch" {
			t.Fatalf("wrong payload hash: %d %s", st, b)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		big := s3Payload(81, limit+1)
		st, _, b := s3StreamPut(t, srv, "/stream/too-large", big, "UNSIGNED-PAYLOAD")
		if st != 400 || s3ErrorCode(b) != "EntityTooLarge" {
			t.Fatalf("body over the limit: %d %s", st, b)
		}
	})
	if got := s3Digests(t, srv, "stream"); got != before {
		t.Fatalf("refused bodies changed the bucket:\n%s\n---\n%s", before, got)
	}
	t.Run("UploadPart", func(t *testing.T) {
		id := s3CreateUpload(t, c, "stream", "mpu")
		st, h, b := s3StreamPut(t, srv, "/stream/mpu?partNumber=1&uploadId="+id, data, sha256Hex(data))
		if st != 200 {
			t.Fatalf("chunked UploadPart: %d %s", st, b)
		}
		_, err := s3Complete(c, t, "stream", "mpu", id, []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(h.Get("ETag"))}})
		if err != nil {
			t.Fatal(err)
		}
		if got := s3Get(t, c, "stream", "mpu"); !bytes.Equal(got, data) {
			t.Fatal("read back differs")
		}
	})
}
