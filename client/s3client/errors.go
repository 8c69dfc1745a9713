package s3client

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrNotFound matches an *Error for a key or bucket that does not exist
// (NoSuchKey, NoSuchBucket, or any 404).
var ErrNotFound = errors.New("s3client: not found")

// Error is an error answer of the S3 server: the HTTP status, S3's
// machine-readable code and its message.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	// Resource is the bucket or bucket/key the request named.
	Resource string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("s3 %s: %s (%d): %s", e.Resource, e.Code, e.StatusCode, msg)
}

// Is reports whether e stands for target: ErrNotFound for a missing key
// or bucket.
func (e *Error) Is(target error) bool {
	if target == ErrNotFound {
		return e.StatusCode == http.StatusNotFound || e.Code == "NoSuchKey" || e.Code == "NoSuchBucket"
	}
	return false
}

// maxErrorBody bounds the error document read from an answer.
const maxErrorBody = 64 << 10

// readError turns an error answer into an *Error. A body that is not S3's
// error document (a HEAD answer has none) gets a code from the status.
func readError(resp *http.Response, resource string) *Error {
	e := &Error{StatusCode: resp.StatusCode, Resource: resource}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(b, &doc) == nil && doc.Code != "" {
		e.Code, e.Message = doc.Code, doc.Message
		return e
	}
	e.Code = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
	if resp.StatusCode == http.StatusNotFound {
		e.Code = "NotFound"
	}
	e.Message = strings.TrimSpace(string(b[:min(len(b), 200)]))
	return e
}
