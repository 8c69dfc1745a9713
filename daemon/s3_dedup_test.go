package daemon

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"net/http"
	"testing"

	"cairn/client"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3LogRun writes a run's model the way MLflow's S3 artifact repository
// does (one PutObject per file under 8 MiB) under
// <exp>/<run_id>/artifacts/model/.
func s3LogRun(t *testing.T, c *s3.Client, bucket, runID string) map[string][]byte {
	t.Helper()
	files := seedModel(t, runID)
	for name, b := range files {
		s3Put(t, c, bucket, "7/"+runID+"/artifacts/model/"+name, b)
	}
	return files
}

// TestS3_TwoRunsStoreOnce logs the same model from two runs through S3:
// the booster and the env files are stored once, the node's stats list
// them as shared by both runs, and the MLmodel files are indexed.
func TestS3_TwoRunsStoreOnce(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "mlflow-s3")
	const runA, runB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	files := s3LogRun(t, c, "mlflow-s3", runA)
	first, err := srv.Store().Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s3LogRun(t, c, "mlflow-s3", runB)
	second, _ := srv.Store().Stats(t.Context())

	booster := files["model.xgb"]
	// The second run brings only its MLmodel: a few hundred bytes, where
	// a second copy would be over 5 MiB.
	if grew := second.StoredBytes - first.StoredBytes; grew > int64(len(files["MLmodel"]))+512 || second.Chunks-first.Chunks > 1 {
		t.Fatalf("the second run stored %d more bytes and %d chunks; the booster is %d bytes", grew, second.Chunks-first.Chunks, len(booster))
	}
	var st client.Stats
	if code := call(t, http.MethodGet, srv.URL()+"/v1/stats", nil, &st); code != 200 {
		t.Fatalf("stats: %d", code)
	}
	shared := map[int64]client.SharedFile{}
	for _, f := range st.Shared {
		shared[f.Size] = f
	}
	for _, name := range []string{"model.xgb", "conda.yaml", "python_env.yaml", "requirements.txt"} {
		f, ok := shared[int64(len(files[name]))]
		if !ok || f.Refs != 2 || len(f.Runs) != 2 {
			t.Errorf("%s: shared entry %+v, want refs 2 across both runs", name, f)
		}
	}
	var models []client.Model
	call(t, http.MethodGet, srv.URL()+"/v1/models?flavor=xgboost", nil, &models)
	if len(models) != 2 {
		t.Fatalf("models indexed from S3 writes: %d, want 2", len(models))
	}

	t.Run("CopiedMLmodelIsIndexed", func(t *testing.T) {
		const runC = "cccccccccccccccccccccccccccccccc"
		_, err := c.CopyObject(t.Context(), &s3.CopyObjectInput{Bucket: aws.String("mlflow-s3"), Key: aws.String("7/" + runC + "/artifacts/model/MLmodel"),
			CopySource: aws.String("mlflow-s3/7/" + runA + "/artifacts/model/MLmodel")})
		if err != nil {
			t.Fatal(err)
		}
		var models []client.Model
		call(t, http.MethodGet, srv.URL()+"/v1/models?flavor=xgboost", nil, &models)
		if len(models) != 3 {
			t.Fatalf("models after copying an MLmodel: %d, want 3", len(models))
		}
	})
	t.Run("ReuploadStoresNothing", func(t *testing.T) {
		before, _ := srv.Store().Stats(t.Context())
		s3Put(t, c, "mlflow-s3", "7/"+runA+"/artifacts/model/model.xgb", booster)
		s3Put(t, c, "mlflow-s3", "elsewhere/model.xgb", booster)
		// Through TLS the body is aws-chunked: the same content still
		// stores nothing new.
		s3Put(t, s3SDKTLS(t, srv), "mlflow-s3", "elsewhere/again.xgb", booster)
		after, _ := srv.Store().Stats(t.Context())
		if after != before {
			t.Fatalf("re-uploading stored chunks: %+v -> %+v", before, after)
		}
		if !bytes.Equal(s3Get(t, c, "mlflow-s3", "elsewhere/again.xgb"), booster) {
			t.Fatal("read back differs")
		}
		head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("mlflow-s3"), Key: aws.String("elsewhere/model.xgb")})
		if err != nil || s3Header(head.ResultMetadata, "X-Cairn-Blake3") != s3Digest(booster) || len(head.Metadata) != 0 {
			t.Fatalf("digest header: %v, metadata %v", err, head.Metadata)
		}
	})
}

// TestETags_ByProtocol writes the same content through S3, the native PUT
// and the client's commit: each gives the MD5 of the content as the ETag,
// so that S3 clients that check files against it (rclone, s3cmd) can
// check objects whichever way they were written.
func TestETags_ByProtocol(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "tags")
	data := content("tags", 3<<20)
	md5ETag := fmt.Sprintf(`"%x"`, md5.Sum(data))

	if got := s3Put(t, c, "tags", "s3", data); got != md5ETag {
		t.Errorf("S3 PutObject: ETag %s, want the MD5 %s", got, md5ETag)
	}
	if got := putBytes(t, srv, "tags", "native", data).ETag; got != md5ETag {
		t.Errorf("native PUT: ETag %s, want the MD5 %s", got, md5ETag)
	}
	cl, err := client.New(client.Config{Endpoints: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	// The client's commit answers with the MD5, or, once the cluster
	// leaves it for after the acknowledgement, with none
	// (TestLateETags_Readers); the object's ETag is the MD5 either way.
	for _, key := range []string{"client", "client2"} { // the second: a file the node holds already
		up, err := cl.Put(t.Context(), "tags", key, bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if up.Object.ETag != md5ETag && (up.Object.ETag != "" || !srv.core.ETags().Late()) {
			t.Errorf("client commit of %s: ETag %s, want the MD5 %s", key, up.Object.ETag, md5ETag)
		}
		st, err := cl.Stat(t.Context(), "tags", key)
		if err != nil {
			t.Fatal(err)
		}
		if st.ETag != md5ETag {
			t.Errorf("native stat of %s: ETag %s, want the MD5 %s", key, st.ETag, md5ETag)
		}
	}
	head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("tags"), Key: aws.String("native")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(head.ETag); got != md5ETag {
		t.Errorf("S3 HEAD of the native object: ETag %s, want %s", got, md5ETag)
	}
	if got := s3Get(t, c, "tags", "client"); !bytes.Equal(got, data) {
		t.Error("S3 GET of the client's object differs")
	}
}
