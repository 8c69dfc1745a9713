package daemon

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3_Keys shows that keys starting with "/", holding "\" or CR and LF
// are stored exactly as sent, read back, listed (ListObjectsV2 with
// encoding-type=url) and deleted, never normalised; that keys with "." or
// ".." segments are refused with InvalidArgument (cairn's choice: S3
// stores them, and tools that map keys to paths would leave their
// folder), and keys over 1024 bytes with KeyTooLongError.
func TestS3_Keys(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "keys")
	keys := []string{"/lead", "//double", "/bar/foo/", "back\\slash", "cr\rlf", "lf\nonly", "crlf\r\n", "tab\tkey",
		"trail/", "a//b", "q?mark#hash", "pct%2F", "ctrl\x01x", "dots.../..x/.y", "é/ü"}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(k), Body: strings.NewReader("v:" + k)}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	for _, k := range keys {
		if got := s3Get(t, c, "keys", k); string(got) != "v:"+k {
			t.Fatalf("get %q: %q", k, got)
		}
	}
	for _, normalised := range []string{"lead", "bar/foo/", "double", "a/b", "crlf"} {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("keys"), Key: aws.String(normalised)})
		wantS3Error(t, err, "NoSuchKey", 404)
	}
	listed := func() []string {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("keys"), EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range out.Contents {
			k, err := url.QueryUnescape(aws.ToString(o.Key))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
		}
		return got
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if got := listed(); !slices.Equal(got, want) {
		t.Fatalf("listed %q, want %q", got, want)
	}
	for _, k := range keys {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("keys"), Key: aws.String(k)}); err != nil {
			t.Fatalf("delete %q: %v", k, err)
		}
	}
	if got := listed(); len(got) != 0 {
		t.Fatalf("left after deleting every key: %q", got)
	}

	before := s3Digests(t, srv, "keys")
	for _, tc := range []struct{ key, code string }{
		{"a/./b", "InvalidArgument"}, {"a/../b", "InvalidArgument"}, {"./a", "InvalidArgument"}, {"a/..", "InvalidArgument"},
		{strings.Repeat("k", 1025), "KeyTooLongError"},
	} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(tc.key), Body: strings.NewReader("x")})
		wantS3Error(t, err, tc.code, 400)
		_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("keys"), Key: aws.String(tc.key)})
		wantS3Error(t, err, tc.code, 400)
	}
	st, _, b := s3Raw(t, srv, "PUT", "/keys/a/%2E%2E/b", nil, []byte("x"))
	if st != 400 || s3ErrorCode(b) != "InvalidArgument" {
		t.Fatalf("escaped ..: %d %s", st, b)
	}
	wantElems(t, b, map[string]string{"ArgumentName": "key", "ArgumentValue": "a/../b"})
	if got := s3Digests(t, srv, "keys"); got != before {
		t.Fatal("refused keys changed the bucket")
	}
}

// TestMLflow_NoDotFolder shows that MLflow's listing never shows a "."
// folder. Through cairn's MLflow API, a path with an empty segment (which
// the listing would show as "." or an empty name) cannot be written; and
// what S3 clients can write in the MLflow bucket, a folder marker (a key
// that is the listed folder's own prefix) or a key with an empty segment
// below it, is left out of the listing.
func TestMLflow_NoDotFolder(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	root := "1/" + run1 + "/artifacts"
	for _, p := range []string{root + "/model/MLmodel", root + "/model/data/model.xgb", root + "/metrics.json"} {
		if code, _, body := mlflowReq(t, srv, "PUT", "artifacts/"+p, []byte(p), nil); code != 200 {
			t.Fatalf("upload %s: %d %s", p, code, body)
		}
	}
	for _, p := range []string{root + "/model/", root + "//x", "/" + root + "/y", root + "/model//z"} {
		code, _, body := mlflowReq(t, srv, "PUT", "artifacts/"+p, []byte("marker"), nil)
		if code != 400 || !strings.Contains(string(body), "INVALID_PARAMETER_VALUE") {
			t.Fatalf("upload %q: %d %s", p, code, body)
		}
	}
	code, _, body := mlflowReq(t, srv, "POST", "mpu/create/"+root+"/model/", []byte(`{"path": "local/file.bin", "num_parts": 1}`), nil)
	if code != 200 {
		t.Fatalf("multipart create under a folder with a trailing slash: %d %s", code, body)
	}
	// What an S3 client may write in the MLflow bucket: folder markers
	// and a key with an empty segment.
	for _, k := range []string{root + "/", root + "/model/", root + "/model//stray"} {
		s3Put(t, c, "mlflow", k, nil)
	}
	list := func(p string) []string {
		t.Helper()
		code, _, body := mlflowReq(t, srv, "GET", "artifacts?path="+url.QueryEscape(p), nil, nil)
		var out struct {
			Files []struct {
				Path  string `json:"path"`
				IsDir bool   `json:"is_dir"`
			} `json:"files"`
		}
		if code != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("list %s: %d %s", p, code, body)
		}
		var names []string
		for _, f := range out.Files {
			names = append(names, f.Path)
		}
		return names
	}
	if got := list(root); !slices.Equal(got, []string{"model", "metrics.json"}) {
		t.Fatalf("run root lists %q", got)
	}
	if got := list(root + "/model"); !slices.Equal(got, []string{"data", "MLmodel"}) {
		t.Fatalf("model folder lists %q", got)
	}
	if got := list(root + "/model/data"); !slices.Equal(got, []string{"model.xgb"}) {
		t.Fatalf("data folder lists %q", got)
	}
}
