package sigv4

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDocumentedHeaderExamples checks the AWS documentation's examples of
// header and query signatures (sig-v4-header-based-auth.html,
// sigv4-query-string-auth.html), including the key "test$file.text" sent
// both encoded and as is.
func TestDocumentedHeaderExamples(t *testing.T) {
	const host = "examplebucket.s3.amazonaws.com"
	const cred = "Credential=" + docAccessKey + "/20130524/us-east-1/s3/aws4_request"
	cases := []struct {
		name, method, target, signed, sig, payload, body string
		headers                                          map[string]string
	}{
		{"get object", "GET", "/test.txt", "host;range;x-amz-content-sha256;x-amz-date",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", emptySHA256, "",
			map[string]string{"Range": "bytes=0-9"}},
		{"put object encoded", "PUT", "/test%24file.text", "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", "Welcome to Amazon S3.",
			map[string]string{"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Storage-Class": "REDUCED_REDUNDANCY"}},
		{"put object raw dollar", "PUT", "/test$file.text", "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", "Welcome to Amazon S3.",
			map[string]string{"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Storage-Class": "REDUCED_REDUNDANCY"}},
		{"get bucket lifecycle", "GET", "/?lifecycle", "host;x-amz-content-sha256;x-amz-date",
			"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", emptySHA256, "", nil},
		{"list objects", "GET", "/?max-keys=2&prefix=J", "host;x-amz-content-sha256;x-amz-date",
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", emptySHA256, "", nil},
		{"list objects reordered", "GET", "/?prefix=J&max-keys=2", "host;x-amz-content-sha256;x-amz-date",
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", emptySHA256, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "http://"+host+c.target, strings.NewReader(c.body))
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 "+cred+",SignedHeaders="+c.signed+",Signature="+c.sig)
			r.Header.Set("X-Amz-Date", "20130524T000000Z")
			r.Header.Set("X-Amz-Content-Sha256", c.payload)
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			got, _, err := readBody(docVerifier(), r)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.body {
				t.Fatalf("body %q, want %q", got, c.body)
			}
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			if _, _, err := readBody(docVerifier(), r); !errors.Is(err, ErrSignatureDoesNotMatch) {
				t.Fatalf("with another payload hash: err = %v, want ErrSignatureDoesNotMatch", err)
			}
		})
	}
}

// TestDocumentedPresignedExample checks the documentation's presigned GET
// and its validity window around 20130524T000000Z + 86400 s.
func TestDocumentedPresignedExample(t *testing.T) {
	const target = "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	cases := []struct {
		name    string
		target  string
		now     time.Time
		want    error
		headers map[string]string
	}{
		{"valid at signing", target, docTime, nil, nil},
		{"valid before expiry", target, docTime.Add(86400 * time.Second), nil, nil},
		{"valid within skew before signing", target, docTime.Add(-10 * time.Minute), nil, nil},
		{"expired", target, docTime.Add(86401 * time.Second), ErrAccessDenied, nil},
		{"not yet valid", target, docTime.Add(-16 * time.Minute), ErrAccessDenied, nil},
		{"tampered expiry", strings.Replace(target, "Expires=86400", "Expires=86401", 1), docTime, ErrSignatureDoesNotMatch, nil},
		{"tampered path", strings.Replace(target, "test.txt", "test.txT", 1), docTime, ErrSignatureDoesNotMatch, nil},
		{"added parameter", target + "&versionId=1", docTime, ErrSignatureDoesNotMatch, nil},
		{"expiry over a week", strings.Replace(target, "Expires=86400", "Expires=604801", 1), docTime, ErrAuthorizationQueryParametersError, nil},
		{"repeated parameter", target + "&X-Amz-Date=20130524T000000Z", docTime, ErrAuthorizationQueryParametersError, nil},
		{"missing signature", target[:strings.Index(target, "&X-Amz-Signature")], docTime, ErrAuthorizationQueryParametersError, nil},
		{"unsigned content sha256 ignored", target, docTime, nil, map[string]string{"X-Amz-Content-Sha256": emptySHA256}},
		{"unsigned x-amz header", target, docTime, ErrAccessDenied, map[string]string{"X-Amz-Copy-Source": "/bucket/other"}},
		{"also an authorization header", target, docTime, ErrInvalidRequest, map[string]string{"Authorization": "AWS4-HMAC-SHA256 x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := docVerifier()
			v.Now = func() time.Time { return c.now }
			r := httptest.NewRequest(http.MethodGet, c.target, nil)
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			a, err := v.Verify(r)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if err == nil && (!a.Presigned || a.Payload != PayloadUnsigned || a.AccessKey != docAccessKey) {
				t.Fatalf("auth = %+v", a)
			}
		})
	}
}
