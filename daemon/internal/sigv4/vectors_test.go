package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The example credentials and time of the AWS documentation's SigV4
// streaming examples (sigv4-streaming.html, sigv4-streaming-trailers.html).
const (
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// docVerifier verifies the documentation examples at their own time.
func docVerifier() *Verifier {
	return &Verifier{
		Lookup: func(ak string) (string, bool) { return docSecretKey, ak == docAccessKey },
		Region: "us-east-1",
		Now:    func() time.Time { return docTime },
	}
}

// docExample is one of the two documented chunked uploads of 66560 'a's in
// chunks of 64 KiB, 1 KiB and 0 bytes.
type docExample struct {
	signedHeaders, seed string
	chunkSigs           [3]string
	payload             string
	trailer             string // the trailer section after the final chunk header
	extraHeaders        map[string]string
}

func docSigned() docExample {
	return docExample{
		signedHeaders: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
		seed:          "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
		chunkSigs: [3]string{
			"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
			"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
			"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
		},
		payload: streamingSignedPayload,
		trailer: "\r\n",
	}
}

func docSignedTrailer() docExample {
	return docExample{
		signedHeaders: "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
		seed:          "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
		chunkSigs: [3]string{
			"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
			"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
			"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
		},
		payload: streamingSignedPayloadTrailer,
		trailer: "x-amz-checksum-crc32c:sOO8/Q==\r\n" +
			"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n",
		extraHeaders: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32c"},
	}
}

// body returns the example's wire body.
func (e docExample) body() []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + e.chunkSigs[0] + "\r\n")
	b.Write(bytes.Repeat([]byte{'a'}, 65536))
	b.WriteString("\r\n400;chunk-signature=" + e.chunkSigs[1] + "\r\n")
	b.Write(bytes.Repeat([]byte{'a'}, 1024))
	b.WriteString("\r\n0;chunk-signature=" + e.chunkSigs[2] + "\r\n")
	b.WriteString(e.trailer)
	return b.Bytes()
}

// request builds the example's request around body, as Go's server hands
// it to a handler.
func (e docExample) request(body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.ContentLength = int64(len(e.body())) // the signed length, whatever body is
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+docAccessKey+"/20130524/us-east-1/s3/aws4_request,SignedHeaders="+e.signedHeaders+",Signature="+e.seed)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", e.payload)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	for k, v := range e.extraHeaders {
		r.Header.Set(k, v)
	}
	return r
}

// readBody verifies r and reads its decoded body.
func readBody(v *Verifier, r *http.Request) ([]byte, *Body, error) {
	a, err := v.Verify(r)
	if err != nil {
		return nil, nil, err
	}
	b, err := a.Body(r)
	if err != nil {
		return nil, nil, err
	}
	got, err := io.ReadAll(b)
	return got, b, err
}

// TestDocumentedStreamingExamples checks the seed, chunk and trailer
// signatures of the AWS documentation's examples, byte for byte.
func TestDocumentedStreamingExamples(t *testing.T) {
	want := bytes.Repeat([]byte{'a'}, 66560)
	for name, e := range map[string]docExample{"signed": docSigned(), "signed-trailer": docSignedTrailer()} {
		t.Run(name, func(t *testing.T) {
			got, b, err := readBody(docVerifier(), e.request(e.body()))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decoded %d bytes, want 66560 'a'", len(got))
			}
			if e.extraHeaders != nil && b.Checksums()[ChecksumCRC32C] != "sOO8/Q==" {
				t.Errorf("Checksums() = %v, want CRC32C sOO8/Q==", b.Checksums())
			}
			if b.ContentEncoding() != "" || b.ExpectedLength() != 66560 {
				t.Errorf("ContentEncoding %q ExpectedLength %d", b.ContentEncoding(), b.ExpectedLength())
			}
		})
	}
}

// TestDocumentedExamplesTampered alters the documented bodies and expects
// the sentinel S3 would answer with, never io.EOF.
func TestDocumentedExamplesTampered(t *testing.T) {
	signed, trailer := docSigned(), docSignedTrailer()
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	cases := []struct {
		name string
		ex   docExample
		body func([]byte) []byte
		want error
	}{
		{"data byte in first chunk", signed, func(b []byte) []byte { return flip(b, 200) }, ErrSignatureDoesNotMatch},
		{"data byte in last chunk", signed, func(b []byte) []byte { return flip(b, len(b)-300) }, ErrSignatureDoesNotMatch},
		{"chunk signature", signed, func(b []byte) []byte { return bytes.Replace(b, []byte("=ad80"), []byte("=ad81"), 1) }, ErrSignatureDoesNotMatch},
		{"chunk signature not hex", signed, func(b []byte) []byte { return flip(b, 30) }, ErrInvalidRequest},
		{"chunks swapped", signed, func(b []byte) []byte {
			return bytes.Replace(b, []byte(signed.chunkSigs[1]), []byte(signed.chunkSigs[2]), 1)
		}, ErrSignatureDoesNotMatch},
		{"truncated in data", signed, func(b []byte) []byte { return b[:1000] }, ErrIncompleteBody},
		{"truncated before final chunk", signed, func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte("0;chunk"))] }, ErrIncompleteBody},
		{"data after end", signed, func(b []byte) []byte { return append(bytes.Clone(b), 'x') }, ErrInvalidRequest},
		{"size larger than data", signed, func(b []byte) []byte { return bytes.Replace(b, []byte("400;"), []byte("401;"), 1) }, ErrInvalidRequest},
		{"trailer value", trailer, func(b []byte) []byte { return bytes.Replace(b, []byte("sOO8/Q=="), []byte("sOO8/R=="), 1) }, ErrSignatureDoesNotMatch},
		{"trailer signature", trailer, func(b []byte) []byte { return flip(b, len(b)-10) }, ErrSignatureDoesNotMatch},
		{"trailer missing signature", trailer, func(b []byte) []byte {
			return b[:bytes.Index(b, []byte("x-amz-trailer-signature"))]
		}, ErrInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readBody(docVerifier(), c.ex.request(c.body(c.ex.body())))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// TestDocumentedSeedTampered changes what the seed signature covers.
func TestDocumentedSeedTampered(t *testing.T) {
	cases := []struct {
		name string
		edit func(r *http.Request)
		want error
	}{
		{"storage class", func(r *http.Request) { r.Header.Set("X-Amz-Storage-Class", "STANDARD") }, ErrSignatureDoesNotMatch},
		{"decoded length", func(r *http.Request) { r.Header.Set("X-Amz-Decoded-Content-Length", "66561") }, ErrSignatureDoesNotMatch},
		{"content length", func(r *http.Request) { r.ContentLength++ }, ErrSignatureDoesNotMatch},
		{"host", func(r *http.Request) { r.Host = "s3.example.com" }, ErrSignatureDoesNotMatch},
		{"method", func(r *http.Request) { r.Method = http.MethodPost }, ErrSignatureDoesNotMatch},
		{"path", func(r *http.Request) { r.URL.Path = "/examplebucket/chunkObject.txT" }, ErrSignatureDoesNotMatch},
		{"query", func(r *http.Request) { r.URL.RawQuery = "acl" }, ErrSignatureDoesNotMatch},
		{"unsigned x-amz header", func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/b/k") }, ErrAccessDenied},
		{"wrong region", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "us-east-1", "eu-west-1", 1))
		}, ErrAuthorizationHeaderMalformed},
		{"unknown key", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), docAccessKey, "AKIDOTHER", 1))
		}, ErrInvalidAccessKeyID},
		{"date moved", func(r *http.Request) { r.Header.Set("X-Amz-Date", "20130524T000001Z") }, ErrSignatureDoesNotMatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := docSigned()
			r := e.request(e.body())
			c.edit(r)
			_, _, err := readBody(docVerifier(), r)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	if e := docSigned(); int64(len(e.body())) != 66824 {
		t.Fatalf("example body is %d bytes, the documentation's Content-Length is 66824", len(e.body()))
	}
}
