package s3api

import (
	"encoding/xml"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"cairn/daemon/internal/apierr"
)

// wantRequestError fails unless err is a refusal with an S3 code, never
// an internal error.
func wantRequestError(t *testing.T, err error) {
	t.Helper()
	var re *apierr.Error
	if !errors.As(err, &re) || re.Code == "" || re.Status/100 != 4 {
		t.Fatalf("error %v is not a 4xx S3 refusal", err)
	}
}

// FuzzParseCompleteXML checks that any body gives either a part list that
// survives a round trip or a 4xx refusal.
func FuzzParseCompleteXML(f *testing.F) {
	for _, s := range []string{
		`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a"</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>x</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part><Part><PartNumber>1</PartNumber><ETag>y</ETag></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload>`, `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload/>`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := parseCompleteXML(b)
		if err != nil {
			wantRequestError(t, err)
			return
		}
		if len(parts) == 0 || len(parts) > maxCompleteParts {
			t.Fatalf("%d parts accepted", len(parts))
		}
		for _, p := range parts {
			if p.PartNumber < 1 || p.PartNumber > maxCompleteParts || p.ETag == "" {
				t.Fatalf("part %+v accepted", p)
			}
		}
		if !utf8.Valid(b) {
			return
		}
		again, err := xml.Marshal(completeMultipartUpload{Parts: parts})
		if err != nil {
			t.Fatal(err)
		}
		if back, err := parseCompleteXML(again); err != nil || !reflect.DeepEqual(back, parts) && !strings.ContainsRune(string(again), '\uFFFD') {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, parts, back)
		}
	})
}

// FuzzParseDeleteXML checks that any body gives 1 to 1000 keys, each
// non-empty, or a 4xx refusal.
func FuzzParseDeleteXML(f *testing.F) {
	for _, s := range []string{
		`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a b</Key></Object><Object><Key>c</Key><VersionId>null</VersionId></Object></Delete>`,
		`<Delete><Object><Key>&lt;&amp;&#x1F600;</Key></Object></Delete>`, `<Delete><Quiet>maybe</Quiet></Delete>`, `<Delete>`, "<a><b>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDeleteXML(b)
		if err != nil {
			wantRequestError(t, err)
			return
		}
		if len(d.Objects) == 0 || len(d.Objects) > maxDeleteKeys {
			t.Fatalf("%d objects accepted", len(d.Objects))
		}
		for _, o := range d.Objects {
			if o.Key == "" {
				t.Fatal("empty key accepted")
			}
		}
	})
}

// FuzzParseCreateBucketXML checks that any body gives a short location
// constraint or a 4xx refusal.
func FuzzParseCreateBucketXML(f *testing.F) {
	for _, s := range []string{
		`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`,
		"", "  \n", `<CreateBucketConfiguration/>`, `<Other/>`, `<CreateBucketConfiguration><LocationConstraint>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		loc, err := parseCreateBucketXML(b)
		if err != nil {
			wantRequestError(t, err)
			return
		}
		if len(loc) > maxLocationLength {
			t.Fatalf("location of %d bytes accepted", len(loc))
		}
	})
}

// FuzzParseCopySource checks that any x-amz-copy-source gives a bucket
// and key that encode back to the same source, or a 4xx refusal.
func FuzzParseCopySource(f *testing.F) {
	for _, s := range []string{"bucket/key", "/bucket/dir/a%20b%2Bc", "bucket/k?versionId=null", "bucket/k?versionId=3", "bucket", "/", "%zz/k", "b/%E2%82%AC?x=%", "b/k%3Fq"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		b, k, err := parseCopySource(v)
		if err != nil {
			wantRequestError(t, err)
			return
		}
		if b == "" || k == "" || strings.Contains(b, "/") {
			t.Fatalf("%q parsed to bucket %q key %q", v, b, k)
		}
		b2, k2, err := parseCopySource(url.PathEscape(b) + "/" + s3Escape(k))
		if err != nil || b2 != b || k2 != k {
			t.Fatalf("%q: round trip of %q %q gave %q %q %v", v, b, k, b2, k2, err)
		}
	})
}

// s3Escape escapes a key for a request path, segment by segment.
func s3Escape(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
