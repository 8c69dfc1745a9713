package daemon

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3_Buckets covers the bucket operations and the configuration
// probes that awscli, rclone and s3cmd send.
func TestS3_Buckets(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("configured"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("plain")})
	wantS3Error(t, err, "BucketAlreadyOwnedByYou", 409)
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	wantS3Error(t, err, "InvalidBucketName", 400)

	list, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(list.Buckets) != 2 || aws.ToString(list.Buckets[0].Name) != "configured" || list.Owner == nil {
		t.Fatalf("list buckets: %v %+v", err, list)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("missing")})
	wantS3Error(t, err, "NotFound", 404)

	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("plain")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("location: %v %+v", err, loc)
	}
	ver, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("plain")})
	if err != nil || ver.Status != "" {
		t.Fatalf("versioning: %v %+v", err, ver)
	}
	acl, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("plain")})
	if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != types.PermissionFullControl {
		t.Fatalf("acl: %v %+v", err, acl)
	}
	for _, probe := range []struct {
		call func() error
		code string
	}{
		{func() error {
			_, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("plain")})
			return err
		}, "NoSuchBucketPolicy"},
		{func() error {
			_, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("plain")})
			return err
		}, "NoSuchLifecycleConfiguration"},
		{func() error {
			_, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("plain")})
			return err
		}, "NoSuchCORSConfiguration"},
		{func() error {
			_, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("plain")})
			return err
		}, "NoSuchTagSet"},
		{func() error {
			_, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("plain")})
			return err
		}, "ServerSideEncryptionConfigurationNotFoundError"},
		{func() error {
			_, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("plain")})
			return err
		}, "ObjectLockConfigurationNotFoundError"},
		{func() error {
			_, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("missing")})
			return err
		}, "NoSuchBucket"},
	} {
		if code, st := s3Code(probe.call()); code != probe.code || st != 404 {
			t.Fatalf("probe: %s %d, want %s 404", code, st, probe.code)
		}
	}
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("plain"), Tagging: &types.Tagging{TagSet: []types.Tag{}}}); err == nil {
		t.Fatal("setting bucket tags succeeded; cairn keeps none")
	} else {
		wantS3Error(t, err, "NotImplemented", 501)
	}
	if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}

	s3Put(t, c, "plain", "obj", []byte("x"))
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("plain")})
	wantS3Error(t, err, "BucketNotEmpty", 409)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("plain"), Key: aws.String("obj")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("plain")})
	wantS3Error(t, err, "NoSuchBucket", 404)
}

// TestS3_VirtualHost addresses buckets as <bucket>.<S3Domain>, the SDK's
// default addressing style.
func TestS3_VirtualHost(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.S3Domain = "s3.cairn.test" })
	_, port, _ := net.SplitHostPort(srv.Addr())
	// Every name resolves to the node: no DNS is asked.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}}}
	k := s3Creds(t, srv)
	c := s3SDKAt(t, "http://s3.cairn.test:"+port, hc, k.AccessKey, k.SecretKey, func(o *s3.Options) { o.UsePathStyle = false })
	ctx := t.Context()
	s3MakeBucket(t, c, "vhost")
	s3Put(t, c, "vhost", "dir/key with space", []byte("hello"))
	if b := s3Get(t, c, "vhost", "dir/key with space"); string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("vhost")})
	if err != nil || len(out.Contents) != 1 {
		t.Fatalf("list: %v %+v", err, out)
	}
	// Path style keeps working on the same node.
	if b := s3Get(t, s3SDK(t, srv), "vhost", "dir/key with space"); string(b) != "hello" {
		t.Fatalf("path style read %q", b)
	}
}

// TestS3_DeleteObjects deletes keys in batches, quiet and not, with
// per-key errors, and refuses a malformed body without deleting anything.
func TestS3_DeleteObjects(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "batch")
	for _, k := range []string{"a", "b", "c", "d", "keep"} {
		s3Put(t, c, "batch", k, []byte(k))
	}
	before := s3Digests(t, srv, "batch")
	for _, body := range []string{"<Delete><Object><Key>a</Key>", "not xml", "<Other><Object><Key>a</Key></Object></Other>",
		"<Delete></Delete>", "<Delete><Object><Key></Key></Object></Delete>", "<Delete><Object><Key>a</Key></Object></Delete><Delete/>"} {
		st, _, b := s3Raw(t, srv, "POST", "/batch?delete", nil, []byte(body))
		if st != 400 || s3ErrorCode(b) != "MalformedXML" {
			t.Fatalf("%q: %d %s", body, st, b)
		}
	}
	if got := s3Digests(t, srv, "batch"); got != before {
		t.Fatalf("malformed deletes changed the bucket:\n%s\n---\n%s", before, got)
	}
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("batch"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a")}, {Key: aws.String("b"), VersionId: aws.String("null")}, {Key: aws.String("missing")},
		{Key: aws.String("c"), VersionId: aws.String("v7")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Deleted) != 3 || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "c" || aws.ToString(out.Errors[0].Code) != "InvalidArgument" {
		t.Fatalf("delete result: %+v", out)
	}
	out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("batch"), Delete: &types.Delete{Quiet: aws.Bool(true),
		Objects: []types.ObjectIdentifier{{Key: aws.String("c")}, {Key: aws.String("d")}}}})
	if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Fatalf("quiet delete: %v %+v", err, out)
	}
	if got := s3Digests(t, srv, "batch"); !strings.HasPrefix(got, "keep ") || strings.Contains(got, "\n") {
		t.Fatalf("left after deletes: %q", got)
	}
}

// TestS3_ListProbesAndACLs checks the smaller answers S3 gives that
// tools look at: the List… operations of configurations cairn keeps none
// of answer an empty list (and a Get of one by id NoSuchConfiguration);
// an ACL S3 would refuse (unknown canned ACL, canned ACL with grants,
// malformed document) is refused, and a well-formed one still accepted.
func TestS3_ListProbesAndACLs(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	ctx := t.Context()
	s3MakeBucket(t, c, "probe")
	s3Put(t, c, "probe", "k", []byte("k"))
	if out, err := c.ListBucketAnalyticsConfigurations(ctx, &s3.ListBucketAnalyticsConfigurationsInput{Bucket: aws.String("probe")}); err != nil || len(out.AnalyticsConfigurationList) != 0 {
		t.Fatalf("analytics: %v %+v", err, out)
	}
	if out, err := c.ListBucketMetricsConfigurations(ctx, &s3.ListBucketMetricsConfigurationsInput{Bucket: aws.String("probe")}); err != nil || len(out.MetricsConfigurationList) != 0 {
		t.Fatalf("metrics: %v %+v", err, out)
	}
	if out, err := c.ListBucketInventoryConfigurations(ctx, &s3.ListBucketInventoryConfigurationsInput{Bucket: aws.String("probe")}); err != nil || len(out.InventoryConfigurationList) != 0 {
		t.Fatalf("inventory: %v %+v", err, out)
	}
	if out, err := c.ListBucketIntelligentTieringConfigurations(ctx, &s3.ListBucketIntelligentTieringConfigurationsInput{Bucket: aws.String("probe")}); err != nil || len(out.IntelligentTieringConfigurationList) != 0 {
		t.Fatalf("intelligent tiering: %v %+v", err, out)
	}
	_, err := c.GetBucketAnalyticsConfiguration(ctx, &s3.GetBucketAnalyticsConfigurationInput{Bucket: aws.String("probe"), Id: aws.String("x")})
	wantS3Error(t, err, "NoSuchConfiguration", 404)

	if _, err := c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("probe"), Key: aws.String("k"), ACL: types.ObjectCannedACLPrivate}); err != nil {
		t.Fatalf("canned private: %v", err)
	}
	_, err = c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("probe"), Key: aws.String("k"), ACL: "fake-acl"})
	wantS3Error(t, err, "InvalidArgument", 400)
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("probe"), ACL: types.BucketCannedACLPrivate, GrantRead: aws.String("id=x")})
	wantS3Error(t, err, "InvalidRequest", 400)
	st, _, b := s3Raw(t, srv, "PUT", "/probe/k?acl", nil, []byte("<AccessControlPolicy><Owner>"))
	if st != 400 || s3ErrorCode(b) != "MalformedACLError" {
		t.Fatalf("malformed ACL: %d %s", st, b)
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("probe2"), ACL: "fake-acl"})
	wantS3Error(t, err, "InvalidArgument", 400)
}
