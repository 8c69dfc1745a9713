package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// docGet returns the documentation's signed GET /test.txt (Range
// bytes=0-9), valid at docTime.
func docGet() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+docAccessKey+"/20130524/us-east-1/s3/aws4_request, "+
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "+
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	return r
}

// TestVerifyRejects checks which sentinel Verify returns for requests
// that are anonymous, use another scheme, or are malformed, starting from
// a valid documented request.
func TestVerifyRejects(t *testing.T) {
	authz := func(r *http.Request, old, new string) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
	cases := []struct {
		name string
		edit func(*http.Request)
		v    func(*Verifier)
		want error
	}{
		{"valid", func(*http.Request) {}, nil, nil},
		{"valid with any region", func(*http.Request) {}, func(v *Verifier) { v.Region = "" }, nil},
		{"valid at the edge of skew", func(*http.Request) {}, func(v *Verifier) {
			v.Now = func() time.Time { return docTime.Add(DefaultMaxSkew) }
		}, nil},
		{"skewed ahead", func(*http.Request) {}, func(v *Verifier) {
			v.Now = func() time.Time { return docTime.Add(DefaultMaxSkew + time.Second) }
		}, ErrRequestTimeTooSkewed},
		{"skewed behind", func(*http.Request) {}, func(v *Verifier) {
			v.Now = func() time.Time { return docTime.Add(-DefaultMaxSkew - time.Second) }
		}, ErrRequestTimeTooSkewed},
		{"narrow skew", func(*http.Request) {}, func(v *Verifier) {
			v.MaxSkew, v.Now = time.Minute, func() time.Time { return docTime.Add(2 * time.Minute) }
		}, ErrRequestTimeTooSkewed},
		{"anonymous", func(r *http.Request) { r.Header.Del("Authorization") }, nil, ErrAnonymous},
		{"header and query", func(r *http.Request) { r.URL.RawQuery = "X-Amz-Signature=00" }, nil, ErrInvalidRequest},
		{"authorization twice", func(r *http.Request) { r.Header.Add("Authorization", "AWS4-HMAC-SHA256 x") }, nil, ErrAuthorizationHeaderMalformed},
		{"signature v2", func(r *http.Request) {
			r.Header.Set("Authorization", "AWS "+docAccessKey+":frJIUN8DYpKDtOLCwo//yllqDzg=")
		}, nil, ErrNotImplemented},
		{"presigned v2", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "AWSAccessKeyId=" + docAccessKey + "&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D"
		}, nil, ErrNotImplemented},
		{"sigv4a", func(r *http.Request) { authz(r, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256") }, nil, ErrNotImplemented},
		{"unknown algorithm", func(r *http.Request) { authz(r, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512") }, nil, ErrAuthorizationHeaderMalformed},
		{"unknown field", func(r *http.Request) { authz(r, "Signature=", "Signatures=") }, nil, ErrAuthorizationHeaderMalformed},
		{"repeated field", func(r *http.Request) { authz(r, ", Signature=", ", SignedHeaders=host, Signature=") }, nil, ErrAuthorizationHeaderMalformed},
		{"host not signed", func(r *http.Request) { authz(r, "host;range", "range") }, nil, ErrAuthorizationHeaderMalformed},
		{"signed headers unsorted", func(r *http.Request) { authz(r, "host;range", "range;host") }, nil, ErrAuthorizationHeaderMalformed},
		{"signed headers uppercase", func(r *http.Request) { authz(r, "host;range", "host;Range") }, nil, ErrAuthorizationHeaderMalformed},
		{"credential short", func(r *http.Request) { authz(r, "/us-east-1", "") }, nil, ErrAuthorizationHeaderMalformed},
		{"credential bad date", func(r *http.Request) { authz(r, "/20130524/", "/20131324/") }, nil, ErrAuthorizationHeaderMalformed},
		{"credential date not signing date", func(r *http.Request) { authz(r, "/20130524/", "/20130525/") }, nil, ErrAuthorizationHeaderMalformed},
		{"credential terminator", func(r *http.Request) { authz(r, "aws4_request", "aws5_request") }, nil, ErrAuthorizationHeaderMalformed},
		{"service not s3", func(r *http.Request) { authz(r, "/s3/", "/ec2/") }, nil, ErrAuthorizationHeaderMalformed},
		{"region not configured", func(*http.Request) {}, func(v *Verifier) { v.Region = "eu-west-1" }, ErrAuthorizationHeaderMalformed},
		{"signature not hex", func(r *http.Request) { authz(r, "Signature=f0e8", "Signature=g0e8") }, nil, ErrAuthorizationHeaderMalformed},
		{"no date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, nil, ErrAccessDenied},
		{"bad x-amz-date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "2013-05-24T00:00:00Z") }, nil, ErrAccessDenied},
		{"bad date", func(r *http.Request) { r.Header.Del("X-Amz-Date"); r.Header.Set("Date", "yesterday") }, nil, ErrAccessDenied},
		{"no content sha256", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, nil, ErrInvalidRequest},
		{"bad content sha256", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "SIGNED-PAYLOAD") }, nil, ErrInvalidRequest},
		{"sigv4a payload", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", streamingECDSAPrefix) }, nil, ErrNotImplemented},
		{"unsigned x-amz header", func(r *http.Request) { r.Header.Set("X-Amz-Meta-Added", "1") }, nil, ErrAccessDenied},
		{"unknown key", func(*http.Request) {}, func(v *Verifier) { v.Lookup = func(string) (string, bool) { return "", false } }, ErrInvalidAccessKeyID},
		{"no lookup", func(*http.Request) {}, func(v *Verifier) { v.Lookup = nil }, ErrInvalidAccessKeyID},
		{"wrong secret", func(*http.Request) {}, func(v *Verifier) { v.Lookup = func(string) (string, bool) { return "x", true } }, ErrSignatureDoesNotMatch},
		{"range changed", func(r *http.Request) { r.Header.Set("Range", "bytes=0-10") }, nil, ErrSignatureDoesNotMatch},
		{"range spaced", func(r *http.Request) { r.Header.Set("Range", "  bytes=0-9 ") }, nil, nil},
		{"bad query escape", func(r *http.Request) { r.URL.RawQuery = "a=%zz" }, nil, ErrInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := docGet()
			c.edit(r)
			v := docVerifier()
			if c.v != nil {
				c.v(v)
			}
			a, err := v.Verify(r)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if err == nil && (a.AccessKey != docAccessKey || a.Payload != PayloadSHA256 || a.PayloadSHA256 != emptySHA256 ||
				a.Presigned || a.Region != "us-east-1" || !a.Time.Equal(docTime)) {
				t.Fatalf("auth = %+v", a)
			}
		})
	}
}

// TestSignatureErrorDetails checks that a mismatch carries the canonical
// request and string to sign S3 returns, and no secret.
func TestSignatureErrorDetails(t *testing.T) {
	r := docGet()
	r.Header.Set("Range", "bytes=1-9")
	_, err := docVerifier().Verify(r)
	var se *SignatureError
	if !errors.As(err, &se) || !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("err = %v, want a *SignatureError", err)
	}
	wantCR := "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=1-9\nx-amz-content-sha256:" + emptySHA256 +
		"\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" + emptySHA256
	if se.CanonicalRequest != wantCR || !strings.HasPrefix(se.StringToSign, "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n") {
		t.Fatalf("canonical request %q\nstring to sign %q", se.CanonicalRequest, se.StringToSign)
	}
	if strings.Contains(err.Error()+se.CanonicalRequest+se.StringToSign, docSecretKey) {
		t.Fatal("the error reveals the secret key")
	}
}

// TestDateHeaderFallback signs a request dated only by its Date header,
// computing the signature here step by step as the AWS documentation
// describes it.
func TestDateHeaderFallback(t *testing.T) {
	mac := func(k []byte, s string) []byte { m := hmac.New(sha256.New, k); m.Write([]byte(s)); return m.Sum(nil) }
	key := mac(mac(mac(mac([]byte("AWS4"+docSecretKey), "20130524"), "us-east-1"), "s3"), "aws4_request")
	canonical := "GET\n/bucket/key\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:cairn.test\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\n" +
		"date;host;x-amz-content-sha256\nUNSIGNED-PAYLOAD"
	sum := sha256.Sum256([]byte(canonical))
	sts := "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" + hex.EncodeToString(sum[:])
	sig := hex.EncodeToString(mac(key, sts))
	for _, date := range []string{"Fri, 24 May 2013 00:00:00 GMT", "Fri, 24 May 2013 00:00:01 GMT"} {
		r := httptest.NewRequest(http.MethodGet, "http://cairn.test/bucket/key", nil)
		r.Header.Set("Date", date)
		r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+docAccessKey+"/20130524/us-east-1/s3/aws4_request,"+
			"SignedHeaders=date;host;x-amz-content-sha256,Signature="+sig)
		a, err := docVerifier().Verify(r)
		if first := strings.HasSuffix(date, ":00 GMT"); first != (err == nil) {
			t.Fatalf("Date %s: err = %v", date, err)
		}
		if err == nil && (a.Payload != PayloadUnsigned || !a.Time.Equal(docTime)) {
			t.Fatalf("auth = %+v", a)
		}
	}
}

// TestParseAuthorization checks the accepted spellings of the header.
func TestParseAuthorization(t *testing.T) {
	const sig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
	cases := []struct {
		name, header, accessKey string
		ok                      bool
	}{
		{"comma space", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + sig, "AK", true},
		{"comma only", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + sig, "AK", true},
		{"fields reordered", "AWS4-HMAC-SHA256 Signature=" + sig + ", SignedHeaders=host, Credential=AK/20130524/us-east-1/s3/aws4_request", "AK", true},
		{"key with slash", "AWS4-HMAC-SHA256 Credential=A/K/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig, "A/K", true},
		{"empty key", "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig, "", false},
		{"empty region", "AWS4-HMAC-SHA256 Credential=AK/20130524//s3/aws4_request, SignedHeaders=host, Signature=" + sig, "", false},
		{"no algorithm", "Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig, "", false},
		{"empty signed header", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;, Signature=" + sig, "", false},
		{"duplicate signed header", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;host, Signature=" + sig, "", false},
		{"trailing comma", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig + ",", "", false},
		{"signature short", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig[1:], "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseAuthorization(c.header)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrAuthorizationHeaderMalformed)) {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if c.ok && (got.cred.accessKey != c.accessKey || got.signature != sig || got.cred.scope() != "20130524/us-east-1/s3/aws4_request") {
				t.Fatalf("claim = %+v", got)
			}
		})
	}
}

// TestVerifyConcurrent shares one Verifier between goroutines, as the
// daemon does; run with -race it proves Verify keeps no shared state.
func TestVerifyConcurrent(t *testing.T) {
	v := docVerifier()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 50 {
				if _, err = v.Verify(docGet()); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
