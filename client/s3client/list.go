package s3client

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxListBody bounds one page of a listing.
const maxListBody = 64 << 20

// listPage is the part of a ListObjectsV2 answer the client reads.
type listPage struct {
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
	EncodingType          string `xml:"EncodingType"`
	Contents              []struct {
		Key          string    `xml:"Key"`
		Size         int64     `xml:"Size"`
		ETag         string    `xml:"ETag"`
		LastModified time.Time `xml:"LastModified"`
	} `xml:"Contents"`
}

// List yields the objects of bucket whose keys start with prefix, in key
// order, page by page (ListObjectsV2, following its continuation token).
// An error ends the sequence.
func (c *Client) List(ctx context.Context, bucket, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		token := ""
		for {
			page, err := c.listPage(ctx, bucket, prefix, token)
			if err != nil {
				yield(ObjectInfo{}, err)
				return
			}
			for _, o := range page.Contents {
				key := o.Key
				if page.EncodingType == "url" {
					if key, err = url.QueryUnescape(o.Key); err != nil {
						yield(ObjectInfo{}, fmt.Errorf("s3 list %s: key %q: %w", bucket, o.Key, err))
						return
					}
				}
				info := ObjectInfo{Key: key, Size: o.Size, ETag: strings.Trim(o.ETag, `"`), LastModified: o.LastModified}
				if !yield(info, nil) {
					return
				}
			}
			if !page.IsTruncated {
				return
			}
			if page.NextContinuationToken == "" {
				yield(ObjectInfo{}, fmt.Errorf("s3 list %s: a truncated page without a continuation token", bucket))
				return
			}
			token = page.NextContinuationToken
		}
	}
}

func (c *Client) listPage(ctx context.Context, bucket, prefix, token string) (listPage, error) {
	q := url.Values{"list-type": {"2"}, "encoding-type": {"url"}}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if c.cfg.ListPageSize > 0 {
		q.Set("max-keys", strconv.Itoa(c.cfg.ListPageSize))
	}
	if token != "" {
		q.Set("continuation-token", token)
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, bucket: bucket, query: q})
	if err != nil {
		return listPage{}, err
	}
	defer resp.Body.Close()
	var page listPage
	if err := xml.NewDecoder(io.LimitReader(resp.Body, maxListBody)).Decode(&page); err != nil {
		return listPage{}, fmt.Errorf("s3 list %s: decode the answer: %v", bucket, err)
	}
	return page, nil
}
