package s3api

import (
	"encoding/xml"
	"net/http"
	"strings"
)

// listMultipartUploadsResult is the ListMultipartUploads document.
type listMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker,omitempty"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	Prefix             string         `xml:"Prefix"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []s3Upload     `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

// s3Upload is one upload of a listing.
type s3Upload struct {
	Key          string   `xml:"Key"`
	UploadID     string   `xml:"UploadId"`
	Initiator    *s3Owner `xml:"Initiator"`
	Owner        *s3Owner `xml:"Owner"`
	StorageClass string   `xml:"StorageClass"`
	Initiated    string   `xml:"Initiated"`
}

// listUploads lists the uploads in progress in a bucket, ordered by key
// then upload id, from key-marker and upload-id-marker on.
func (a *API) listUploads(w http.ResponseWriter, q *s3Request) error {
	p, err := readListParams(q, "max-uploads")
	if err != nil {
		return err
	}
	if _, err := a.bucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	ups, err := a.node.State().Uploads(q.bucket, p.prefix)
	if err != nil {
		return err
	}
	km, um := q.query.Get("key-marker"), q.query.Get("upload-id-marker")
	out := listMultipartUploadsResult{
		Bucket: q.bucket, KeyMarker: p.enc(km), UploadIDMarker: um, Delimiter: p.enc(p.delimiter),
		Prefix: p.enc(p.prefix), EncodingType: p.encodingType(), MaxUploads: p.maxKeys,
	}
	// A key marker that is a common prefix skips every key under it.
	skipPrefix := ""
	if p.delimiter != "" && strings.HasPrefix(km, p.prefix) && strings.HasSuffix(km, p.delimiter) {
		skipPrefix = km
	}
	lastPrefix := ""
	for _, u := range ups {
		if u.Key < km || u.Key == km && (um == "" || u.UploadID <= um) ||
			skipPrefix != "" && strings.HasPrefix(u.Key, skipPrefix) {
			continue
		}
		cp := ""
		if p.delimiter != "" {
			if i := strings.Index(u.Key[len(p.prefix):], p.delimiter); i >= 0 {
				cp = u.Key[:len(p.prefix)+i+len(p.delimiter)]
			}
		}
		if cp != "" && cp == lastPrefix {
			continue
		}
		if len(out.Uploads)+len(out.CommonPrefixes) == p.maxKeys {
			out.IsTruncated = true
			break
		}
		if cp != "" {
			lastPrefix = cp
			out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.enc(cp)})
			out.NextKeyMarker, out.NextUploadIDMarker = p.enc(cp), ""
			continue
		}
		out.Uploads = append(out.Uploads, s3Upload{
			Key: p.enc(u.Key), UploadID: u.UploadID, Initiator: owner(), Owner: owner(),
			StorageClass: "STANDARD", Initiated: s3Time(u.Time),
		})
		out.NextKeyMarker, out.NextUploadIDMarker = p.enc(u.Key), u.UploadID
	}
	if !out.IsTruncated {
		out.NextKeyMarker, out.NextUploadIDMarker = "", ""
	}
	writeXML(w, http.StatusOK, out)
	return nil
}
