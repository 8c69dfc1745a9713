package daemon

import (
	"bytes"
	"maps"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3_DigestHeader shows that user metadata is exactly what the client
// set, after a PUT, a CopyObject with COPY and with REPLACE, and a
// multipart upload, and that the BLAKE3 digest travels in cairn's own
// X-Cairn-Blake3, never among x-amz-meta-*: a client's own cairn-blake3
// entry is stored like any other.
func TestS3_DigestHeader(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "meta")
	data := s3Payload(70, 100<<10)
	mine := map[string]string{"cairn-blake3": "mine", "kind": "model"}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("put"), Body: bytes.NewReader(data), Metadata: mine}); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, key string, want map[string]string, content []byte) {
		t.Helper()
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(head.Metadata, want) {
			t.Errorf("HEAD %s: metadata %v, want %v", key, head.Metadata, want)
		}
		if got := s3Header(head.ResultMetadata, "X-Cairn-Blake3"); got != s3Digest(content) {
			t.Errorf("HEAD %s: X-Cairn-Blake3 %q, want %s", key, got, s3Digest(content))
		}
		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("meta"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		get.Body.Close()
		if !maps.Equal(get.Metadata, want) || s3Header(get.ResultMetadata, "X-Cairn-Blake3") != s3Digest(content) {
			t.Errorf("GET %s: metadata %v, X-Cairn-Blake3 %q", key, get.Metadata, s3Header(get.ResultMetadata, "X-Cairn-Blake3"))
		}
	}
	t.Run("Put", func(t *testing.T) { check(t, "put", mine, data) })
	t.Run("CopyCOPY", func(t *testing.T) {
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("meta"), Key: aws.String("copy"), CopySource: aws.String("meta/put")}); err != nil {
			t.Fatal(err)
		}
		check(t, "copy", mine, data)
	})
	t.Run("CopyREPLACE", func(t *testing.T) {
		other := map[string]string{"stage": "prod"}
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("meta"), Key: aws.String("replaced"), CopySource: aws.String("meta/put"),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: other})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "replaced", other, data)
	})
	t.Run("Multipart", func(t *testing.T) {
		id := s3CreateUpload(t, c, "meta", "mpu", func(in *s3.CreateMultipartUploadInput) { in.Metadata = mine })
		parts := [][]byte{s3Payload(71, 5<<20), s3Payload(72, 1000)}
		if _, err := s3Complete(c, t, "meta", "mpu", id, s3UploadParts(t, c, "meta", "mpu", id, parts, "")); err != nil {
			t.Fatal(err)
		}
		check(t, "mpu", mine, bytes.Join(parts, nil))
	})
}

// TestS3_MetadataEncoding shows that non-ASCII user metadata travels as
// AWS sends it: an RFC 2047 encoded-word is decoded before it is stored,
// raw UTF-8 is taken as UTF-8 and other raw bytes as ISO-8859-1, and a
// stored value goes out as it is when it is printable ASCII and as one
// encoded-word otherwise (Q, or B when it holds control characters),
// which Go's mime.WordDecoder reads back. The 2 KB limit counts what is
// stored.
func TestS3_MetadataEncoding(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "enc")
	cases := []struct {
		name, sent, stored, returned string
	}{
		{"QWord", "=?UTF-8?Q?Hello_World=C3=A9?=", "Hello Worldé", "=?UTF-8?Q?Hello_World=C3=A9?="},
		{"BWordOfASCII", "=?UTF-8?B?YWJj?=", "abc", "abc"},
		{"QWordOfASCII", "=?utf-8?q?actually-ascii?=", "actually-ascii", "actually-ascii"},
		{"RawUTF8", "Hello World\xc3\xa9", "Hello Worldé", "=?UTF-8?Q?Hello_World=C3=A9?="},
		{"RawLatin1", "caf\xe9", "café", "=?UTF-8?Q?caf=C3=A9?="},
		{"Amazon", "=?UTF-8?B?w4RNw4Raw5XDkSBTMw==?=", "ÄMÄZÕÑ S3", "=?UTF-8?Q?=C3=84M=C3=84Z=C3=95=C3=91_S3?="},
		{"Specials", "=?UTF-8?Q?test=5F=E2=80=94=5Ffile=3F.pdf?=", "test_—_file?.pdf", "=?UTF-8?Q?test=5F=E2=80=94=5Ffile=3F.pdf?="},
		{"Controls", "=?UTF-8?B?AAECAw==?=", "\x00\x01\x02\x03", "=?UTF-8?B?AAECAw==?="},
		{"Punctuation", `!"#$%&'()*+,-./:;<=>?@[\]^_{|}~ x`, `!"#$%&'()*+,-./:;<=>?@[\]^_{|}~ x`, `!"#$%&'()*+,-./:;<=>?@[\]^_{|}~ x`},
		{"TwoWords", "=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab", "ab"},
		{"UndecodableWord", "=?UTF-8?B?=GGG?=", "=?UTF-8?B?=GGG?=", "=?UTF-8?B?=GGG?="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "obj-" + tc.name
			st, _, b := s3Raw(t, srv, "PUT", "/enc/"+key, http.Header{"X-Amz-Meta-Value": {tc.sent}}, []byte("x"))
			if st != 200 {
				t.Fatalf("put: %d %s", st, b)
			}
			o, _, err := srv.Node().State().Object("enc", key)
			if err != nil || o.Meta.User["value"] != tc.stored {
				t.Fatalf("stored %q (%v), want %q", o.Meta.User["value"], err, tc.stored)
			}
			st, h, _ := s3Raw(t, srv, "HEAD", "/enc/"+key, nil, nil)
			if got := h.Values("X-Amz-Meta-Value"); st != 200 || len(got) != 1 || got[0] != tc.returned {
				t.Fatalf("HEAD: %d x-amz-meta-value %q, want %q", st, got, tc.returned)
			}
			var dec mime.WordDecoder
			if got, err := dec.DecodeHeader(tc.returned); tc.name != "UndecodableWord" && (err != nil || got != tc.stored) {
				t.Fatalf("the answer decodes to %q (%v), not the stored %q", got, err, tc.stored)
			}
		})
	}
	t.Run("SDK", func(t *testing.T) {
		// aws-sdk-go-v2 sends UTF-8 as it is and does not decode the
		// answer: the caller does, with mime.WordDecoder.
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("sdk"), Body: strings.NewReader("x"),
			Metadata: map[string]string{"greeting": "Hello Worldé"}})
		if err != nil {
			t.Fatal(err)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("enc"), Key: aws.String("sdk")})
		if err != nil {
			t.Fatal(err)
		}
		var dec mime.WordDecoder
		got, err := dec.DecodeHeader(head.Metadata["greeting"])
		if head.Metadata["greeting"] != "=?UTF-8?Q?Hello_World=C3=A9?=" || err != nil || got != "Hello Worldé" {
			t.Fatalf("read back %q, decoded %q (%v)", head.Metadata["greeting"], got, err)
		}
	})
	t.Run("LimitCountsStoredForm", func(t *testing.T) {
		// 1,500 bytes stored, 2,000 on the wire as base64: accepted.
		encoded := "=?UTF-8?B?" + strings.Repeat("YWJj", 500) + "?="
		if st, _, b := s3Raw(t, srv, "PUT", "/enc/small-stored", http.Header{"X-Amz-Meta-V": {encoded}}, []byte("x")); st != 200 {
			t.Fatalf("1500 bytes stored: %d %s", st, b)
		}
		before := s3Digests(t, srv, "enc")
		big := "=?UTF-8?B?" + strings.Repeat("YWJj", 700) + "?=" // 2,100 bytes stored
		st, _, b := s3Raw(t, srv, "PUT", "/enc/big-stored", http.Header{"X-Amz-Meta-V": {big}}, []byte("x"))
		if st != 400 || s3ErrorCode(b) != "MetadataTooLarge" {
			t.Fatalf("2100 bytes stored: %d %s", st, b)
		}
		if got := s3Digests(t, srv, "enc"); got != before {
			t.Fatal("a refused PUT changed the bucket")
		}
	})
}
