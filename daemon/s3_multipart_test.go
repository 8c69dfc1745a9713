package daemon

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3Upload uploads parts through the SDK and returns the completed-part
// list to send.
func s3UploadParts(t testing.TB, c *s3.Client, bucket, key, id string, parts [][]byte, alg types.ChecksumAlgorithm) []types.CompletedPart {
	t.Helper()
	var done []types.CompletedPart
	for i, p := range parts {
		out, err := c.UploadPart(t.Context(), &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatalf("upload part %d: %v", i+1, err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag,
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC64NVME: out.ChecksumCRC64NVME})
	}
	return done
}

func s3CreateUpload(t testing.TB, c *s3.Client, bucket, key string, f ...func(*s3.CreateMultipartUploadInput)) string {
	t.Helper()
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	for _, o := range f {
		o(in)
	}
	out, err := c.CreateMultipartUpload(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.UploadId)
}

func s3Complete(c *s3.Client, t testing.TB, bucket, key, id string, parts []types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	return c.CompleteMultipartUpload(t.Context(), &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
}

// multipartETagOf computes S3's ETag of a multipart object.
func multipartETagOf(parts [][]byte) string {
	sum := md5.New()
	for _, p := range parts {
		m := md5.Sum(p)
		sum.Write(m[:])
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(sum.Sum(nil)), len(parts))
}

// TestS3_Multipart drives a multipart upload of 5 MiB parts over TLS
// (aws-chunked parts with CRC32 trailers): completion, its idempotent
// retry, reading by part number, abort after complete, part listing.
func TestS3_Multipart(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDKTLS(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "mpu")
	parts := [][]byte{s3Payload(10, 5<<20), s3Payload(11, 5<<20+123), s3Payload(12, 1000)}
	whole := bytes.Join(parts, nil)
	id := s3CreateUpload(t, c, "mpu", "big/object.bin", func(in *s3.CreateMultipartUploadInput) {
		in.ContentType = aws.String("application/x-big")
		in.Metadata = map[string]string{"kind": "multipart"}
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	})
	done := s3UploadParts(t, c, "mpu", "big/object.bin", id, parts, types.ChecksumAlgorithmCrc32)

	t.Run("ListParts", func(t *testing.T) {
		var got []int32
		var marker *string
		for {
			out, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), UploadId: aws.String(id),
				MaxParts: aws.Int32(2), PartNumberMarker: marker})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range out.Parts {
				got = append(got, aws.ToInt32(p.PartNumber))
				if aws.ToString(p.ETag) != aws.ToString(done[aws.ToInt32(p.PartNumber)-1].ETag) || aws.ToString(p.ChecksumCRC32) == "" {
					t.Fatalf("part %d: %+v", aws.ToInt32(p.PartNumber), p)
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			marker = out.NextPartNumberMarker
		}
		if fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("listed parts %v", got)
		}
	})
	t.Run("ListUploads", func(t *testing.T) {
		other := s3CreateUpload(t, c, "mpu", "big/object.bin")
		s3CreateUpload(t, c, "mpu", "elsewhere")
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), Prefix: aws.String("big/")})
		if err != nil || len(out.Uploads) != 2 {
			t.Fatalf("uploads under big/: %v %+v", err, out)
		}
		first := out.Uploads[0]
		out, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), Prefix: aws.String("big/"),
			KeyMarker: first.Key, UploadIdMarker: first.UploadId})
		if err != nil || len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].UploadId) == aws.ToString(first.UploadId) {
			t.Fatalf("uploads after the first: %v %+v", err, out)
		}
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), UploadId: aws.String(other)}); err != nil {
			t.Fatal(err)
		}
	})
	out, err := s3Complete(c, t, "mpu", "big/object.bin", id, done)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != multipartETagOf(parts) || !strings.HasSuffix(aws.ToString(out.ChecksumCRC32), "-3") || out.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("complete: ETag %s (want %s), checksum %s %s", aws.ToString(out.ETag), multipartETagOf(parts), aws.ToString(out.ChecksumCRC32), out.ChecksumType)
	}
	if !bytes.Equal(s3Stored(t, srv, "mpu", "big/object.bin"), whole) {
		t.Fatal("stored content is not the parts in order")
	}
	if b := s3Get(t, c, "mpu", "big/object.bin", func(in *s3.GetObjectInput) { in.ChecksumMode = types.ChecksumModeEnabled }); !bytes.Equal(b, whole) {
		t.Fatal("read back differs")
	}
	t.Run("RepeatComplete", func(t *testing.T) {
		again, err := s3Complete(c, t, "mpu", "big/object.bin", id, done)
		if err != nil || aws.ToString(again.ETag) != aws.ToString(out.ETag) {
			t.Fatalf("repeated complete: %v %+v", err, again)
		}
		// A different list for the finished upload is refused.
		_, err = s3Complete(c, t, "mpu", "big/object.bin", id, done[:2])
		wantS3Error(t, err, "NoSuchUpload", 404)
	})
	t.Run("PartNumber", func(t *testing.T) {
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), PartNumber: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(g.Body)
		g.Body.Close()
		if !bytes.Equal(b.Bytes(), parts[1]) || aws.ToInt32(g.PartsCount) != 3 {
			t.Fatalf("part 2: %d bytes, parts count %d", b.Len(), aws.ToInt32(g.PartsCount))
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), PartNumber: aws.Int32(3)})
		if err != nil || aws.ToInt64(h.ContentLength) != int64(len(parts[2])) {
			t.Fatalf("head part 3: %v %+v", err, h)
		}
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), PartNumber: aws.Int32(4)})
		if _, st := s3Code(err); st != 416 {
			t.Fatalf("head part 4: %v", err)
		}
	})
	t.Run("AbortAfterComplete", func(t *testing.T) {
		_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin"), UploadId: aws.String(id)})
		wantS3Error(t, err, "NoSuchUpload", 404)
		if !bytes.Equal(s3Stored(t, srv, "mpu", "big/object.bin"), whole) {
			t.Fatal("abort after complete changed the object")
		}
	})
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object.bin")})
	if err != nil || aws.ToString(head.ContentType) != "application/x-big" || head.Metadata["kind"] != "multipart" {
		t.Fatalf("metadata of the completed object: %v %+v", err, head)
	}
}

// TestS3_MultipartRefusals shows that Complete refuses a part list that
// is out of order, names a part that was not uploaded or was replaced,
// or has a part under 5 MiB before the last, and that none of these
// changes the upload or the bucket.
func TestS3_MultipartRefusals(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "mpu")
	s3Put(t, c, "mpu", "keep", []byte("kept"))
	small := [][]byte{s3Payload(20, 1<<20), s3Payload(21, 5<<20)}
	id := s3CreateUpload(t, c, "mpu", "obj")
	done := s3UploadParts(t, c, "mpu", "obj", id, small, "")
	before := s3Digests(t, srv, "mpu")

	_, err := s3Complete(c, t, "mpu", "obj", id, done)
	wantS3Error(t, err, "EntityTooSmall", 400)
	_, err = s3Complete(c, t, "mpu", "obj", id, []types.CompletedPart{done[1], done[0]})
	wantS3Error(t, err, "InvalidPartOrder", 400)
	_, err = s3Complete(c, t, "mpu", "obj", id, []types.CompletedPart{{PartNumber: aws.Int32(7), ETag: done[0].ETag}})
	wantS3Error(t, err, "InvalidPart", 400)
	_, err = s3Complete(c, t, "mpu", "obj", "no-such-upload", done)
	wantS3Error(t, err, "NoSuchUpload", 404)
	_, err = c.UploadPart(t.Context(), &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("obj"), UploadId: aws.String(id),
		PartNumber: aws.Int32(10001), Body: strings.NewReader("x")})
	wantS3Error(t, err, "InvalidArgument", 400)

	// The last part uploaded under a number wins; the replaced part's
	// ETag no longer completes.
	replaced := s3UploadParts(t, c, "mpu", "obj", id, [][]byte{s3Payload(22, 5<<20)}, "")
	_, err = s3Complete(c, t, "mpu", "obj", id, done)
	wantS3Error(t, err, "InvalidPart", 400)
	if got := s3Digests(t, srv, "mpu"); got != before {
		t.Fatalf("refused completions changed the bucket:\n%s\n---\n%s", before, got)
	}
	out, err := s3Complete(c, t, "mpu", "obj", id, []types.CompletedPart{replaced[0], done[1]})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != multipartETagOf([][]byte{s3Payload(22, 5<<20), small[1]}) {
		t.Fatalf("ETag %s", aws.ToString(out.ETag))
	}
}

// TestS3_MultipartCopyAndFullChecksum builds an object from UploadPartCopy
// parts (a whole object, which moves no bytes, and a range) and checks a
// FULL_OBJECT CRC64NVME checksum, which the SDK validates on GET.
func TestS3_MultipartCopyAndFullChecksum(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "mpu")
	src := s3Payload(30, 6<<20)
	s3Put(t, c, "mpu", "src", src)

	id := s3CreateUpload(t, c, "mpu", "copied")
	p1, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("copied"), UploadId: aws.String(id),
		PartNumber: aws.Int32(1), CopySource: aws.String("mpu/src")})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("copied"), UploadId: aws.String(id),
		PartNumber: aws.Int32(2), CopySource: aws.String("mpu/src"), CopySourceRange: aws.String("bytes=100-1099")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("copied"), UploadId: aws.String(id),
		PartNumber: aws.Int32(3), CopySource: aws.String("mpu/src"), CopySourceRange: aws.String("bytes=100-99999999")})
	wantS3Error(t, err, "InvalidArgument", 400)
	_, err = s3Complete(c, t, "mpu", "copied", id, []types.CompletedPart{
		{PartNumber: aws.Int32(1), ETag: p1.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: p2.CopyPartResult.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), src...), src[100:1100]...)
	if !bytes.Equal(s3Stored(t, srv, "mpu", "copied"), want) {
		t.Fatal("copied parts do not read back")
	}

	parts := [][]byte{s3Payload(31, 5<<20), s3Payload(32, 4096)}
	id = s3CreateUpload(t, c, "mpu", "crc64", func(in *s3.CreateMultipartUploadInput) {
		in.ChecksumAlgorithm, in.ChecksumType = types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeFullObject
	})
	done := s3UploadParts(t, c, "mpu", "crc64", id, parts, types.ChecksumAlgorithmCrc64nvme)
	out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("crc64"),
		UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ChecksumCRC64NVME) == "" || out.ChecksumType != types.ChecksumTypeFullObject {
		t.Fatalf("full-object checksum: %q %s", aws.ToString(out.ChecksumCRC64NVME), out.ChecksumType)
	}
	if b := s3Get(t, c, "mpu", "crc64", func(in *s3.GetObjectInput) { in.ChecksumMode = types.ChecksumModeEnabled }); !bytes.Equal(b, bytes.Join(parts, nil)) {
		t.Fatal("read back differs")
	}
}

// TestS3_MultipartRaces runs the races that lost data elsewhere (MinIO
// #2040, #17863, #6544): the same part number uploaded concurrently (the
// last applied wins and only its ETag completes), Completes repeated
// concurrently (all answer the same object), and an Abort racing them
// (either the object exists whole, or the upload is gone and no object).
func TestS3_MultipartRaces(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "race")
	id := s3CreateUpload(t, c, "race", "obj")
	candidates := [][]byte{s3Payload(60, 5<<20), s3Payload(61, 5<<20)}
	etags := make([]string, len(candidates))
	var wg sync.WaitGroup
	for i, p := range candidates {
		wg.Go(func() {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("race"), Key: aws.String("obj"), UploadId: aws.String(id),
				PartNumber: aws.Int32(1), Body: bytes.NewReader(p)})
			if err != nil {
				t.Error(err)
				return
			}
			etags[i] = aws.ToString(out.ETag)
		})
	}
	wg.Wait()
	tail, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("race"), Key: aws.String("obj"), UploadId: aws.String(id),
		PartNumber: aws.Int32(2), Body: strings.NewReader("tail part")})
	if err != nil {
		t.Fatal(err)
	}
	last := types.CompletedPart{PartNumber: aws.Int32(2), ETag: tail.ETag}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("race"), Key: aws.String("obj"), UploadId: aws.String(id)})
	if err != nil || len(lp.Parts) != 2 {
		t.Fatalf("parts: %v %+v", err, lp)
	}
	winner := slices.Index(etags, aws.ToString(lp.Parts[0].ETag))
	if winner < 0 {
		t.Fatalf("part 1 has ETag %s, neither upload's %q", aws.ToString(lp.Parts[0].ETag), etags)
	}
	list := []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(etags[winner])}, last}
	_, err = s3Complete(c, t, "race", "obj", id, []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(etags[1-winner])}, last})
	wantS3Error(t, err, "InvalidPart", 400)

	results := make([]string, 4)
	aborted := false
	for i := range results {
		wg.Go(func() {
			out, err := s3Complete(c, t, "race", "obj", id, list)
			if err != nil {
				results[i], _ = s3Code(err)
				return
			}
			results[i] = aws.ToString(out.ETag)
		})
	}
	wg.Go(func() {
		_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("race"), Key: aws.String("obj"), UploadId: aws.String(id)})
		aborted = err == nil
	})
	wg.Wait()
	want := multipartETagOf([][]byte{candidates[winner], []byte("tail part")})
	_, _, stErr := srv.Node().State().Object("race", "obj")
	for _, r := range results {
		switch {
		case r == want && !aborted || r == want && stErr == nil:
		case r == "NoSuchUpload" && aborted:
		default:
			t.Fatalf("complete answered %q (aborted %v), want %s or NoSuchUpload after an abort", r, aborted, want)
		}
	}
	if stErr == nil {
		if !bytes.Equal(s3Stored(t, srv, "race", "obj"), append(append([]byte(nil), candidates[winner]...), "tail part"...)) {
			t.Fatal("completed object is not the winning parts")
		}
	} else if !aborted || slices.Contains(results, want) {
		t.Fatalf("no object, yet aborted %v and completes %q", aborted, results)
	}
	if st, _ := srv.Node().State().Stats(); st.Uploads != 0 {
		t.Fatalf("%d uploads left", st.Uploads)
	}
}
