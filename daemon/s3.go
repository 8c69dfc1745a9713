package daemon

import (
	"encoding/xml"
	"net/http"
	"strconv"
)

// s3Error is S3's XML error body.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}

// writeS3Error answers in S3's XML error form.
func (s *Server) writeS3Error(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	b, _ := xml.Marshal(s3Error{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: requestID(r)})
	b = append([]byte(xml.Header), b...)
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

func requestID(r *http.Request) string { return r.Header.Get("X-Request-Id") }

// serveS3 answers the S3 API.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	s.writeS3Error(w, r, requestErr(http.StatusNotImplemented, "NotImplemented", "the S3 API is not served yet"))
}
