package s3api

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strings"

	"cairn/daemon/internal/apierr"
	"cairn/raftfsm"
)

// maxListKeys is the most entries one listing page holds, as S3.
const maxListKeys = 1000

// The listing documents, named after S3's elements.
type s3Object struct {
	Key          string   `xml:"Key"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
	Size         int64    `xml:"Size"`
	Owner        *s3Owner `xml:"Owner,omitempty"`
	StorageClass string   `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResultV2 struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	KeyCount              int            `xml:"KeyCount"`
	IsTruncated           bool           `xml:"IsTruncated"`
	ContinuationToken     *string        `xml:"ContinuationToken"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	Contents              []s3Object     `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type listBucketResultV1 struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	Contents       []s3Object     `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

type listVersionsResult struct {
	XMLName             xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Versions            []s3Version    `xml:"Version"`
	CommonPrefixes      []commonPrefix `xml:"CommonPrefixes"`
}

type s3Version struct {
	Key          string   `xml:"Key"`
	VersionID    string   `xml:"VersionId"`
	IsLatest     bool     `xml:"IsLatest"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
	Size         int64    `xml:"Size"`
	Owner        *s3Owner `xml:"Owner"`
	StorageClass string   `xml:"StorageClass"`
}

// listParams are the parameters every listing shares.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	url               bool // encoding-type=url
}

// readListParams reads prefix, delimiter, encoding-type and the page
// size (named maxName: max-keys or max-uploads).
func readListParams(q *s3Request, maxName string) (listParams, error) {
	p := listParams{prefix: q.query.Get("prefix"), delimiter: q.query.Get("delimiter")}
	if q.has("encoding-type") {
		// url is the one encoding; an empty value is refused too, as S3
		// refuses it.
		if et := q.query.Get("encoding-type"); et != "url" {
			return p, apierr.InvalidArgument("encoding-type", et, "invalid encoding method specified in request: %q", et)
		}
		p.url = true
	}
	var err error
	p.maxKeys, err = intParam(q, maxName, maxListKeys, maxListKeys)
	return p, err
}

// encodingType is the EncodingType element of an answer.
func (p listParams) encodingType() string {
	if p.url {
		return "url"
	}
	return ""
}

// enc writes a key, prefix or marker in the answer: URL-encoded when the
// client asked for encoding-type=url, as S3 does it. Unreserved characters
// and '/' stay as they are; every other byte is %XX, a space %20 and a '+'
// %2B, which both url.QueryUnescape and Python's unquote_plus (boto3)
// decode back.
func (p listParams) enc(s string) string {
	if !p.url {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// list reads one page of a bucket's keys after the key or common prefix
// after: an index range scan of the prefix.
func (a *API) list(ctx context.Context, bucket string, p listParams, after string) (raftfsm.ListResult, error) {
	if err := a.consistent(ctx); err != nil {
		return raftfsm.ListResult{}, err
	}
	if p.maxKeys == 0 {
		_, err := a.node.State().Bucket(bucket)
		return raftfsm.ListResult{}, err
	}
	if after < p.prefix {
		after = "" // every key under the prefix sorts after it
	}
	res, err := a.node.State().List(bucket, raftfsm.ListOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, StartAfter: after, Limit: p.maxKeys,
	})
	if err != nil {
		return res, err
	}
	return res, a.node.ETags().OfAll(ctx, res.Objects)
}

// objects writes a page's objects and common prefixes as S3 elements.
func (p listParams) objects(res raftfsm.ListResult, withOwner bool) ([]s3Object, []commonPrefix) {
	objs := make([]s3Object, 0, len(res.Objects))
	for _, o := range res.Objects {
		so := s3Object{Key: p.enc(o.Key), LastModified: s3Time(o.MTime), ETag: o.Meta.ETag, Size: o.Size, StorageClass: "STANDARD"}
		if withOwner {
			so.Owner = owner()
		}
		objs = append(objs, so)
	}
	var cps []commonPrefix
	for _, cp := range res.CommonPrefixes {
		cps = append(cps, commonPrefix{Prefix: p.enc(cp)})
	}
	return objs, cps
}

// Continuation tokens are opaque to clients: the base64 of the last key
// or common prefix of the page.
func encodeToken(next string) string { return base64.RawURLEncoding.EncodeToString([]byte(next)) }

// decodeToken reads a continuation token encodeToken wrote.
func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) > raftfsm.MaxKeyLength {
		return "", apierr.InvalidArgument("continuation-token", tok, "the continuation token provided is incorrect")
	}
	return string(b), nil
}

// listObjectsV2 answers ListObjectsV2: continuation tokens take
// precedence over start-after, and max-keys=0 lists nothing.
func (a *API) listObjectsV2(w http.ResponseWriter, q *s3Request) error {
	p, err := readListParams(q, "max-keys")
	if err != nil {
		return err
	}
	after := q.query.Get("start-after")
	out := listBucketResultV2{Name: q.bucket, Prefix: p.enc(p.prefix), Delimiter: p.enc(p.delimiter), MaxKeys: p.maxKeys,
		EncodingType: p.encodingType(), StartAfter: p.enc(after)}
	if q.has("continuation-token") {
		tok := q.query.Get("continuation-token")
		out.ContinuationToken = &tok
		if tok != "" {
			if after, err = decodeToken(tok); err != nil {
				return err
			}
		}
	}
	res, err := a.list(q.r.Context(), q.bucket, p, after)
	if err != nil {
		return err
	}
	out.Contents, out.CommonPrefixes = p.objects(res, q.query.Get("fetch-owner") == "true")
	out.KeyCount = len(out.Contents) + len(out.CommonPrefixes)
	if out.IsTruncated = res.Truncated; res.Truncated {
		out.NextContinuationToken = encodeToken(res.Next)
	}
	writeXML(w, http.StatusOK, out)
	return nil
}

// listObjectsV1 answers the first version of ListObjects. As S3, it
// gives a NextMarker only with a delimiter; without one the client goes on
// from the last key.
func (a *API) listObjectsV1(w http.ResponseWriter, q *s3Request) error {
	p, err := readListParams(q, "max-keys")
	if err != nil {
		return err
	}
	marker := q.query.Get("marker")
	res, err := a.list(q.r.Context(), q.bucket, p, marker)
	if err != nil {
		return err
	}
	out := listBucketResultV1{Name: q.bucket, Prefix: p.enc(p.prefix), Marker: p.enc(marker), MaxKeys: p.maxKeys,
		Delimiter: p.enc(p.delimiter), EncodingType: p.encodingType(), IsTruncated: res.Truncated}
	out.Contents, out.CommonPrefixes = p.objects(res, true)
	if res.Truncated && p.delimiter != "" {
		out.NextMarker = p.enc(res.Next)
	}
	writeXML(w, http.StatusOK, out)
	return nil
}

// listObjectVersions lists an unversioned bucket's objects as versions:
// each key has one, "null", and it is the latest.
func (a *API) listObjectVersions(w http.ResponseWriter, q *s3Request) error {
	p, err := readListParams(q, "max-keys")
	if err != nil {
		return err
	}
	km, vm := q.query.Get("key-marker"), q.query.Get("version-id-marker")
	switch {
	case vm != "" && km == "":
		return apierr.InvalidArgument("version-id-marker", vm, "a version-id marker cannot be specified without a key marker")
	case vm != "" && vm != "null":
		return apierr.InvalidArgument("version-id-marker", vm, "invalid version id specified")
	}
	res, err := a.list(q.r.Context(), q.bucket, p, km)
	if err != nil {
		return err
	}
	out := listVersionsResult{Name: q.bucket, Prefix: p.enc(p.prefix), KeyMarker: p.enc(km), VersionIDMarker: vm,
		MaxKeys: p.maxKeys, Delimiter: p.enc(p.delimiter), EncodingType: p.encodingType(), IsTruncated: res.Truncated,
		Versions: []s3Version{}}
	for _, o := range res.Objects {
		out.Versions = append(out.Versions, s3Version{Key: p.enc(o.Key), VersionID: "null", IsLatest: true,
			LastModified: s3Time(o.MTime), ETag: o.Meta.ETag, Size: o.Size, Owner: owner(), StorageClass: "STANDARD"})
	}
	_, out.CommonPrefixes = p.objects(raftfsm.ListResult{CommonPrefixes: res.CommonPrefixes}, false)
	if res.Truncated {
		out.NextKeyMarker = p.enc(res.Next)
		if n := len(res.Objects); n > 0 && res.Objects[n-1].Key == res.Next {
			out.NextVersionIDMarker = "null"
		}
	}
	writeXML(w, http.StatusOK, out)
	return nil
}
