package daemon

import (
	"bytes"
	"encoding/xml"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3ListKeys are keys that trip listing implementations: spaces, '+',
// '%', unicode, a key that is also a prefix, nested folders.
func s3ListKeys() []string {
	return []string{
		"a/b/c", "a/b/d", "a/e", "asdf+b", "b", "foo+1/bar", "foo/bar/xyzzy", "quux ab/thud",
		"x%y", "é/ü", "dir", "dir/x", "z~t=1&u",
	}
}

func s3ListBucket(t *testing.T) (*Server, *s3.Client) {
	t.Helper()
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "list")
	for _, k := range s3ListKeys() {
		s3Put(t, c, "list", k, []byte(k))
	}
	return srv, c
}

// wantListing computes what a listing with prefix and delimiter holds.
func wantListing(prefix, delim string) (keys, prefixes []string) {
	seen := map[string]bool{}
	for _, k := range s3ListKeys() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if i := strings.Index(k[len(prefix):], delim); delim != "" && i >= 0 {
			cp := k[:len(prefix)+i+len(delim)]
			if !seen[cp] {
				seen[cp] = true
				prefixes = append(prefixes, cp)
			}
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sort.Strings(prefixes)
	return keys, prefixes
}

func unescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatalf("unescape %q: %v", s, err)
	}
	return u
}

// TestS3_ListObjectsV2 pages through listings one or two entries at a
// time, with and without delimiter and URL encoding, and checks the
// edge cases S3 test suites probe.
func TestS3_ListObjectsV2(t *testing.T) {
	_, c := s3ListBucket(t)
	ctx := t.Context()
	for _, tc := range []struct {
		prefix, delim string
		max           int32
		url           bool
	}{{"", "/", 2, true}, {"", "", 3, false}, {"a/", "/", 1, true}, {"", "/", 1000, false}, {"foo", "/", 1, true}, {"", "b", 2, true}} {
		in := &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String(tc.prefix), Delimiter: aws.String(tc.delim), MaxKeys: aws.Int32(tc.max)}
		if tc.url {
			in.EncodingType = types.EncodingTypeUrl
		}
		var keys, prefixes []string
		p := s3.NewListObjectsV2Paginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(page.Contents) + len(page.CommonPrefixes); n > int(tc.max) || int(aws.ToInt32(page.KeyCount)) != n {
				t.Fatalf("page of %d entries, key count %d, max %d", n, aws.ToInt32(page.KeyCount), tc.max)
			}
			for _, o := range page.Contents {
				k := aws.ToString(o.Key)
				if tc.url {
					k = unescape(t, k)
				}
				keys = append(keys, k)
			}
			for _, cp := range page.CommonPrefixes {
				pr := aws.ToString(cp.Prefix)
				if tc.url {
					pr = unescape(t, pr)
				}
				prefixes = append(prefixes, pr)
			}
		}
		wk, wp := wantListing(tc.prefix, tc.delim)
		if !slices.Equal(keys, wk) || !slices.Equal(prefixes, wp) {
			t.Fatalf("prefix %q delimiter %q max %d: keys %q prefixes %q, want %q %q", tc.prefix, tc.delim, tc.max, keys, prefixes, wk, wp)
		}
	}
	t.Run("StartAfter", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), StartAfter: aws.String("foo+1/bar"), MaxKeys: aws.Int32(2)})
		if err != nil || len(out.Contents) != 2 || aws.ToString(out.Contents[0].Key) != "foo/bar/xyzzy" || aws.ToString(out.StartAfter) != "foo+1/bar" {
			t.Fatalf("start-after: %v %+v", err, out)
		}
		// A start-after before the prefix lists the whole prefix.
		out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String("dir"), StartAfter: aws.String("a")})
		if err != nil || len(out.Contents) != 2 {
			t.Fatalf("start-after before the prefix: %v %+v", err, out)
		}
	})
	t.Run("MaxKeysZero", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(0)})
		if err != nil || len(out.Contents) != 0 || aws.ToBool(out.IsTruncated) || aws.ToInt32(out.MaxKeys) != 0 {
			t.Fatalf("max-keys 0: %v %+v", err, out)
		}
	})
	t.Run("EmptyContinuationToken", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), ContinuationToken: aws.String("")})
		if err != nil || len(out.Contents) != len(s3ListKeys()) || out.ContinuationToken == nil || aws.ToString(out.ContinuationToken) != "" {
			t.Fatalf("empty token: %v %+v", err, out)
		}
		_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), ContinuationToken: aws.String("!!not a token")})
		wantS3Error(t, err, "InvalidArgument", 400)
		_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nosuchbucket")})
		wantS3Error(t, err, "NoSuchBucket", 404)
	})
	t.Run("DeletedKeyThatIsAPrefix", func(t *testing.T) {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("list"), Key: aws.String("dir")}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String("dir")})
		if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "dir/x" {
			t.Fatalf("after deleting dir: %v %+v", err, out)
		}
		s3Put(t, c, "list", "dir", []byte("dir"))
	})
}

// TestS3_ListEncoding checks the wire form of encoding-type=url: keys,
// prefixes and the delimiter percent-encoded as S3 does (space %20, '+'
// %2B, '/' kept), which boto3's unquote_plus and Go's QueryUnescape both
// decode.
func TestS3_ListEncoding(t *testing.T) {
	srv, _ := s3ListBucket(t)
	st, _, body := s3Raw(t, srv, "GET", "/list?list-type=2&delimiter=%2F&encoding-type=url&prefix=", nil, nil)
	var res struct {
		Delimiter      string
		Keys           []string `xml:"Contents>Key"`
		CommonPrefixes []string `xml:"CommonPrefixes>Prefix"`
	}
	if err := xml.Unmarshal(body, &res); st != 200 || err != nil {
		t.Fatalf("list: %d %v %s", st, err, body)
	}
	wantKeys := []string{"asdf%2Bb", "b", "dir", "x%25y", "z~t%3D1%26u"}
	wantPrefixes := []string{"a/", "dir/", "foo%2B1/", "foo/", "quux%20ab/", "%C3%A9/"}
	if res.Delimiter != "/" || !slices.Equal(res.Keys, wantKeys) || !slices.Equal(res.CommonPrefixes, wantPrefixes) {
		t.Fatalf("encoded listing: delimiter %q keys %q prefixes %q", res.Delimiter, res.Keys, res.CommonPrefixes)
	}
}

// TestS3_ListObjectsV1AndVersions pages ListObjects (markers) and
// ListObjectVersions (key and version-id markers) of an unversioned
// bucket.
func TestS3_ListObjectsV1AndVersions(t *testing.T) {
	_, c := s3ListBucket(t)
	ctx := t.Context()
	all, _ := wantListing("", "")
	var keys []string
	marker := ""
	for {
		out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("list"), Marker: aws.String(marker), MaxKeys: aws.Int32(4)})
		if err != nil {
			t.Fatal(err)
		}
		if out.NextMarker != nil {
			t.Fatalf("NextMarker %q without a delimiter", aws.ToString(out.NextMarker))
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		marker = keys[len(keys)-1]
	}
	if !slices.Equal(keys, all) {
		t.Fatalf("v1 keys %q, want %q", keys, all)
	}
	out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("list"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if err != nil || !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextMarker) != "asdf+b" {
		t.Fatalf("v1 with delimiter: %v %+v", err, out)
	}

	keys = nil
	km, vm := "", ""
	for {
		in := &s3.ListObjectVersionsInput{Bucket: aws.String("list"), MaxKeys: aws.Int32(5)}
		if km != "" {
			in.KeyMarker, in.VersionIdMarker = aws.String(km), aws.String(vm)
		}
		out, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.VersionId) != "null" || !aws.ToBool(v.IsLatest) {
				t.Fatalf("version %+v", v)
			}
			keys = append(keys, aws.ToString(v.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		km, vm = aws.ToString(out.NextKeyMarker), aws.ToString(out.NextVersionIdMarker)
	}
	if !slices.Equal(keys, all) {
		t.Fatalf("versions %q, want %q", keys, all)
	}
	_, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("list"), VersionIdMarker: aws.String("null")})
	wantS3Error(t, err, "InvalidArgument", 400)
}

// TestS3_ListEncodingEveryField checks, on the wire, that encoding-type=url
// encodes every field of the four listings that holds a key or part of
// one (Prefix, Delimiter, StartAfter, Marker, NextMarker, KeyMarker,
// NextKeyMarker, Key, CommonPrefixes) and leaves the opaque ones alone;
// that the SDK's listing with a newline in its prefix decodes back to it;
// and that an empty encoding-type is refused, as S3 refuses it.
func TestS3_ListEncodingEveryField(t *testing.T) {
	srv := newTestServer(t)
	c := s3SDK(t, srv)
	s3MakeBucket(t, c, "enc")
	for _, k := range []string{"p\nxéy", "p\nz+1", "p\nz+2"} {
		s3Put(t, c, "enc", k, []byte(k))
		s3CreateUpload(t, c, "enc", k)
	}
	list := func(t *testing.T, v url.Values) map[string][]string {
		t.Helper()
		v.Set("encoding-type", "url")
		st, _, body := s3Raw(t, srv, "GET", "/enc?"+v.Encode(), nil, nil)
		if st != 200 {
			t.Fatalf("list %v: %d %s", v, st, body)
		}
		return xmlFields(t, body)
	}
	const enc = "p%0A" // "p\n"
	for _, tc := range []struct {
		name  string
		query url.Values
		want  map[string][]string
	}{
		{"V2", url.Values{"list-type": {"2"}, "prefix": {"p\n"}, "delimiter": {"é"}, "start-after": {"p\n"}, "max-keys": {"1"}},
			map[string][]string{"Prefix": {enc, enc + "x%C3%A9"}, "Delimiter": {"%C3%A9"}, "StartAfter": {enc}, "EncodingType": {"url"}}},
		{"V2Keys", url.Values{"list-type": {"2"}, "prefix": {"p\nz"}},
			map[string][]string{"Prefix": {enc + "z"}, "Key": {enc + "z%2B1", enc + "z%2B2"}}},
		{"V1", url.Values{"prefix": {"p\n"}, "delimiter": {"é"}, "marker": {"p\nxé"}, "max-keys": {"1"}},
			map[string][]string{"Prefix": {enc}, "Delimiter": {"%C3%A9"}, "Marker": {enc + "x%C3%A9"}, "Key": {enc + "z%2B1"}, "NextMarker": {enc + "z%2B1"}}},
		{"Versions", url.Values{"versions": {""}, "prefix": {"p\n"}, "delimiter": {"é"}, "key-marker": {"p\nxé"}, "max-keys": {"1"}},
			map[string][]string{"Prefix": {enc}, "Delimiter": {"%C3%A9"}, "KeyMarker": {enc + "x%C3%A9"}, "Key": {enc + "z%2B1"},
				"NextKeyMarker": {enc + "z%2B1"}, "NextVersionIdMarker": {"null"}}},
		{"UploadsPrefixes", url.Values{"uploads": {""}, "prefix": {"p\n"}, "delimiter": {"é"}, "key-marker": {"p\n"}, "max-uploads": {"1"}},
			map[string][]string{"Prefix": {enc, enc + "x%C3%A9"}, "Delimiter": {"%C3%A9"}, "KeyMarker": {enc}, "NextKeyMarker": {enc + "x%C3%A9"}}},
		{"Uploads", url.Values{"uploads": {""}, "prefix": {"p\n"}, "key-marker": {"p\nxéy"}, "max-uploads": {"1"}},
			map[string][]string{"Prefix": {enc}, "KeyMarker": {enc + "x%C3%A9y"}, "Key": {enc + "z%2B1"}, "NextKeyMarker": {enc + "z%2B1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := list(t, tc.query)
			for name, want := range tc.want {
				if !slices.Equal(got[name], want) {
					t.Errorf("%s: %q, want %q", name, got[name], want)
				}
			}
		})
	}
	t.Run("SDKNewlinePrefix", func(t *testing.T) {
		out, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("enc"), Prefix: aws.String("p\n"),
			Delimiter: aws.String("é"), EncodingType: types.EncodingTypeUrl})
		if err != nil || len(out.CommonPrefixes) != 1 || len(out.Contents) != 2 {
			t.Fatalf("list: %v %+v", err, out)
		}
		if unescape(t, aws.ToString(out.Prefix)) != "p\n" || unescape(t, aws.ToString(out.Delimiter)) != "é" ||
			unescape(t, aws.ToString(out.CommonPrefixes[0].Prefix)) != "p\nxé" || unescape(t, aws.ToString(out.Contents[0].Key)) != "p\nz+1" {
			t.Fatalf("decoded listing: %+v", out)
		}
	})
	t.Run("EmptyEncodingType", func(t *testing.T) {
		for _, q := range []string{"list-type=2&", "", "versions&", "uploads&"} {
			st, _, body := s3Raw(t, srv, "GET", "/enc?"+q+"encoding-type=", nil, nil)
			if st != 400 || s3ErrorCode(body) != "InvalidArgument" {
				t.Fatalf("%sencoding-type=: %d %s", q, st, body)
			}
			wantElems(t, body, map[string]string{"ArgumentName": "encoding-type"})
		}
	})
}

// xmlFields collects the text of every element of an XML document by
// element name, in document order.
func xmlFields(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tk.Name.Local)
			text.Reset()
		case xml.CharData:
			text.Write(tk)
		case xml.EndElement:
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			out[name] = append(out[name], text.String())
			text.Reset()
		}
	}
	return out
}
