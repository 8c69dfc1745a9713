package daemon

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"cairn/client"
)

// TestClient_RelogStoredFile: content the store holds, however it came
// (here through S3, cut by the node itself), is logged again through the
// Go client with one question (about its first chunk) and one commit that
// names it by digest and size: no chunk list, no chunk sent. The new
// object reads back whole, with the digest, recipe and MD5 ETag of the
// first. A conditional
// commit of a stored file that fails changes nothing, and content the
// store lacks still goes up after the node answers NoSuchFile; content
// whose first chunk the node lacks goes up without that commit.
func TestClient_RelogStoredFile(t *testing.T) {
	srv := newClientTestServer(t)
	c, ct := newCountingClient(t, srv.URL())
	data, err := os.ReadFile(clientBooster(t, "model", "json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3SDK(t, srv).PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("test"), Key: aws.String("s3/model.json"),
		Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	first, err := c.Stat(t.Context(), "test", "s3/model.json")
	if err != nil {
		t.Fatal(err)
	}

	ct.reset()
	u, err := c.Put(t.Context(), "test", "again/model.json", bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// One question, about the first chunk, and one commit.
	if ct.missing.Load() != 1 || ct.chunkPuts.Load() != 0 || ct.commits.Load() != 1 || u.SentBytes != 0 {
		t.Fatalf("re-log: %d questions, %d chunks sent, %d commits, %d bytes; want 1, 0, 1, 0",
			ct.missing.Load(), ct.chunkPuts.Load(), ct.commits.Load(), u.SentBytes)
	}
	if len(first.Recipe) < 2 || u.Object.Digest != first.Digest || u.Chunks != len(first.Recipe) {
		t.Fatalf("re-log committed %s in %d chunks, want %s in %d (more than one)", u.Object.Digest, u.Chunks, first.Digest, len(first.Recipe))
	}
	again, err := c.Stat(t.Context(), "test", "again/model.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	if again.ETag != `"`+hex.EncodeToString(sum[:])+`"` || again.ETag != first.ETag || again.Size != int64(len(data)) {
		t.Fatalf("re-logged object: ETag %s size %d, want %s and %d", again.ETag, again.Size, first.ETag, len(data))
	}
	got, err := c.GetRange(t.Context(), "test", "again/model.json", 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}

	before := snapshotState(t, srv)
	_, err = c.Put(t.Context(), "test", "again/model.json", bytes.NewReader(data), int64(len(data)), &client.PutOptions{IfNoneMatch: "*"})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionFailed {
		t.Fatalf("conditional re-log onto an existing key: %v, want 412", err)
	}
	if after := snapshotState(t, srv); stateOf(before) != stateOf(after) {
		t.Fatalf("a failed conditional commit changed the state:\n%s\n---\n%s", before, after)
	}

	edited := bytes.Clone(data)
	edited[len(edited)/2] ^= 1
	ct.reset()
	u, err = c.Put(t.Context(), "test", "edited/model.json", bytes.NewReader(edited), int64(len(edited)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Its first chunk is stored: a commit by digest (NoSuchFile), then
	// the chunks.
	if ct.commits.Load() != 2 || ct.missing.Load() < 2 || u.SentChunks == 0 || u.SentChunks == u.Chunks {
		t.Fatalf("edited: %d commits, %d questions, %d of %d chunks sent; want 2 (NoSuchFile, then the chunks), 2 or more, some but not all",
			ct.commits.Load(), ct.missing.Load(), u.SentChunks, u.Chunks)
	}
	if got, err := c.GetRange(t.Context(), "test", "edited/model.json", 0, -1); err != nil || !bytes.Equal(got, edited) {
		t.Fatalf("read edited back: %d bytes, %v", len(got), err)
	}

	// New content, not even its first chunk stored: no commit by digest.
	fresh := bytes.Clone(data)
	for i := 0; i < len(fresh); i += 4096 {
		fresh[i] ^= 0x5a
	}
	ct.reset()
	if _, err := c.Put(t.Context(), "test", "fresh/model.json", bytes.NewReader(fresh), int64(len(fresh)), nil); err != nil {
		t.Fatal(err)
	}
	if ct.commits.Load() != 1 {
		t.Fatalf("new content: %d commits, want 1", ct.commits.Load())
	}
}
