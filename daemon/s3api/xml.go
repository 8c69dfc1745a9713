package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/sigv4"
)

// timeFormat is how S3's XML documents write times.
const s3TimeFormat = "2006-01-02T15:04:05.000Z"

// s3Time formats a unix nanosecond time for an XML document.
func s3Time(ns int64) string { return time.Unix(0, ns).UTC().Format(s3TimeFormat) }

// The owner every bucket and object shows: cairn has one tenant.
const (
	s3OwnerID   = "6361697266e0000000000000000000000000000000000000000000000000000a"
	s3OwnerName = "cairn"
)

// s3Owner is the Owner or Initiator element.
type s3Owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// owner returns the owner of everything.
func owner() *s3Owner { return &s3Owner{ID: s3OwnerID, DisplayName: s3OwnerName} }

// emptyDocument is a document with only a root element, such as the
// answer for a bucket configuration that is not set.
type emptyDocument struct {
	XMLName xml.Name
}

// emptyDoc returns a document with only its root element.
func emptyDoc(name string) emptyDocument {
	return emptyDocument{XMLName: xml.Name{Space: s3Namespace, Local: name}}
}

// configurationList is the answer of a listing of bucket configurations
// cairn keeps none of (analytics, metrics, inventory, intelligent
// tiering): an empty list under the root S3 gives it.
func configurationList(name string) emptyList {
	root := map[string]string{
		"analytics": "ListBucketAnalyticsConfigurationResult", "metrics": "ListMetricsConfigurationsResult",
		"inventory": "ListInventoryConfigurationsResult", "intelligent-tiering": "ListBucketIntelligentTieringConfigurationsOutput",
	}[name]
	return emptyList{XMLName: xml.Name{Space: s3Namespace, Local: root}}
}

// emptyList is a listing document with nothing in it.
type emptyList struct {
	XMLName     xml.Name
	IsTruncated bool `xml:"IsTruncated"`
}

// The answer documents, named after their root elements.
type requestPaymentConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ RequestPaymentConfiguration"`
	Payer   string   `xml:"Payer"`
}

type listAllMyBucketsResult struct {
	XMLName xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner   *s3Owner   `xml:"Owner"`
	Buckets []s3Bucket `xml:"Buckets>Bucket"`
}

type s3Bucket struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
}

type locationConstraint struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Location string   `xml:",chardata"`
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner   *s3Owner `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type grantee struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// ownerFullControl is the ACL of every bucket and object.
func ownerFullControl() accessControlPolicy {
	return accessControlPolicy{Owner: owner(), Grants: []grant{{
		Grantee:    grantee{XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: s3OwnerID, DisplayName: s3OwnerName},
		Permission: "FULL_CONTROL",
	}}}
}

// tagging is an empty tag set: cairn keeps no object tags.
type tagging struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	TagSet  struct{} `xml:"TagSet"`
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
}

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumFields
}

// checksumFields are the checksum elements of parts and results, one per
// algorithm, and the checksum type.
type checksumFields struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

// checksumMap returns the checksums set, by canonical algorithm name.
func (c checksumFields) checksumMap() map[string]string {
	m := map[string]string{}
	for alg, v := range map[string]string{
		sigv4.ChecksumCRC32: c.ChecksumCRC32, sigv4.ChecksumCRC32C: c.ChecksumCRC32C,
		sigv4.ChecksumCRC64NVME: c.ChecksumCRC64NVME, sigv4.ChecksumSHA1: c.ChecksumSHA1, sigv4.ChecksumSHA256: c.ChecksumSHA256,
	} {
		if v != "" {
			m[alg] = v
		}
	}
	return m
}

// checksumElements fills the checksum elements from checksums by
// algorithm; a value ending in -N is a composite of the parts'.
func checksumElements(checksums map[string]string) checksumFields {
	var c checksumFields
	for alg, v := range checksums {
		switch alg {
		case sigv4.ChecksumCRC32:
			c.ChecksumCRC32 = v
		case sigv4.ChecksumCRC32C:
			c.ChecksumCRC32C = v
		case sigv4.ChecksumCRC64NVME:
			c.ChecksumCRC64NVME = v
		case sigv4.ChecksumSHA1:
			c.ChecksumSHA1 = v
		case sigv4.ChecksumSHA256:
			c.ChecksumSHA256 = v
		default:
			continue
		}
		c.ChecksumType = checksumType(v)
	}
	return c
}

// checksumType returns COMPOSITE for a checksum of part checksums (it ends
// in -N) and FULL_OBJECT for a checksum of the content.
func checksumType(v string) string {
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		return "COMPOSITE"
	}
	return "FULL_OBJECT"
}

// listPartsResult is the ListParts document; s3Part one part of it.
type listPartsResult struct {
	XMLName              xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string   `xml:"Bucket"`
	Key                  string   `xml:"Key"`
	UploadID             string   `xml:"UploadId"`
	Initiator            *s3Owner `xml:"Initiator"`
	Owner                *s3Owner `xml:"Owner"`
	StorageClass         string   `xml:"StorageClass"`
	PartNumberMarker     int      `xml:"PartNumberMarker"`
	NextPartNumberMarker int      `xml:"NextPartNumberMarker,omitempty"`
	MaxParts             int      `xml:"MaxParts"`
	IsTruncated          bool     `xml:"IsTruncated"`
	Parts                []s3Part `xml:"Part"`
}

type s3Part struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	checksumFields
}

// completeMultipartUpload is the body of CompleteMultipartUpload.
type completeMultipartUpload struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []completePart `xml:"Part"`
}

// completePart is one Part of a CompleteMultipartUpload body.
type completePart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	checksumFields
}

// deleteRequest is the body of DeleteObjects.
type deleteRequest struct {
	XMLName xml.Name       `xml:"Delete"`
	Quiet   bool           `xml:"Quiet"`
	Objects []deleteObject `xml:"Object"`
}

// deleteObject is one Object of a Delete body.
type deleteObject struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId"`
}

// deleteResult is the DeleteObjects document: the keys deleted and the
// keys that failed.
type deleteResult struct {
	XMLName xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []deletedKey  `xml:"Deleted"`
	Errors  []deleteError `xml:"Error"`
}

type deletedKey struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
}

type deleteError struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

// createBucketConfiguration is the optional body of CreateBucket.
type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// versioningConfiguration is the body and answer of the versioning
// subresource.
type versioningConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ VersioningConfiguration"`
	Status  string   `xml:"Status,omitempty"`
}

// Limits of the request documents, as S3's.
const (
	maxDeleteKeys     = 1000
	maxCompleteParts  = 10000
	maxLocationLength = 64
)

// xmlProblem says what is wrong with an XML document without the Go
// parsers' names ("strconv.ParseInt: ...").
func xmlProblem(err error) string {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		if errors.Is(ne.Err, strconv.ErrRange) {
			return fmt.Sprintf("%q is out of range", ne.Num)
		}
		return fmt.Sprintf("%q is not a number", ne.Num)
	}
	return strings.TrimPrefix(err.Error(), "xml: ")
}

// decodeXML decodes one XML document into v; anything that does not
// decode, or trailing elements after it, is MalformedXML.
func decodeXML(b []byte, v any) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return apierr.BadRequest("MalformedXML", "the XML you provided was not well-formed or did not validate against our published schema: %s", xmlProblem(err))
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return apierr.BadRequest("MalformedXML", "trailing data after the XML document: %v", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return apierr.BadRequest("MalformedXML", "trailing text after the XML document")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return apierr.BadRequest("MalformedXML", "trailing data after the XML document")
		}
	}
}

// parseCompleteXML decodes a CompleteMultipartUpload body. It checks the
// shape only: at least one part (an empty body or list is InvalidRequest,
// as S3 answers it), part numbers in range, an ETag on each.
func parseCompleteXML(b []byte) ([]completePart, error) {
	var c completeMultipartUpload
	if len(bytes.TrimSpace(b)) > 0 {
		if err := decodeXML(b, &c); err != nil {
			return nil, err
		}
	}
	if len(c.Parts) == 0 {
		return nil, apierr.BadRequest("InvalidRequest", "you must specify at least one part")
	}
	if len(c.Parts) > maxCompleteParts {
		return nil, apierr.BadRequest("MalformedXML", "a CompleteMultipartUpload names 1 to %d parts, not %d", maxCompleteParts, len(c.Parts))
	}
	for _, p := range c.Parts {
		if p.PartNumber < 1 || p.PartNumber > maxCompleteParts {
			return nil, apierr.BadRequest("InvalidArgument", "part number %d is outside 1..%d", p.PartNumber, maxCompleteParts)
		}
		if p.ETag == "" {
			return nil, apierr.BadRequest("MalformedXML", "part %d has no ETag", p.PartNumber)
		}
	}
	return c.Parts, nil
}

// parseDeleteXML decodes a DeleteObjects body: 1 to 1000 objects, each
// with a key.
func parseDeleteXML(b []byte) (deleteRequest, error) {
	var d deleteRequest
	if err := decodeXML(b, &d); err != nil {
		return d, err
	}
	if len(d.Objects) == 0 || len(d.Objects) > maxDeleteKeys {
		return d, apierr.BadRequest("MalformedXML", "a Delete names 1 to %d objects, not %d", maxDeleteKeys, len(d.Objects))
	}
	for _, o := range d.Objects {
		if o.Key == "" {
			return d, apierr.BadRequest("MalformedXML", "an Object has no Key")
		}
	}
	return d, nil
}

// parseCreateBucketXML decodes the optional CreateBucket body and returns
// its location constraint; an empty body has none.
func parseCreateBucketXML(b []byte) (string, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return "", nil
	}
	var c createBucketConfiguration
	if err := decodeXML(b, &c); err != nil {
		return "", err
	}
	if len(c.LocationConstraint) > maxLocationLength {
		return "", apierr.BadRequest("InvalidLocationConstraint", "the location constraint is over %d bytes", maxLocationLength)
	}
	return c.LocationConstraint, nil
}
