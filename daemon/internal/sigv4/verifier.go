package sigv4

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DefaultMaxSkew is the clock skew Verify allows when MaxSkew is zero, as
// S3 does.
const DefaultMaxSkew = 15 * time.Minute

// Verifier checks requests signed with AWS Signature Version 4 for the s3
// service. Its fields are read-only once it is in use; it is then safe for
// concurrent use.
type Verifier struct {
	// Lookup returns the secret key of an access key, and false if the
	// key is unknown. It must be safe for concurrent use.
	Lookup func(accessKey string) (secretKey string, ok bool)
	// Region, when set, is the only region a credential scope may name.
	// When empty any region is accepted.
	Region string
	// MaxSkew is how far the signing time of a request signed in its
	// Authorization header may be from the clock, either way, and how far
	// in the future a presigned URL's X-Amz-Date may be. Zero means
	// DefaultMaxSkew.
	MaxSkew time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Verify authenticates r, signed either in its Authorization header or as
// a presigned URL (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
// X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature, with an expiry
// of at most seven days). It does not read the body: callers that accept
// one must read it through Auth.Body, which verifies it. The error wraps
// one of the package's sentinels.
func (v *Verifier) Verify(r *http.Request) (*Auth, error) {
	params, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	c, presigned, err := parseClaim(r, params)
	if err != nil {
		return nil, err
	}
	bad := ErrAuthorizationHeaderMalformed
	if presigned {
		bad = ErrAuthorizationQueryParametersError
	}
	if c.cred.service != serviceS3 {
		return nil, fmt.Errorf("check credential service %q: must be %s: %w", c.cred.service, serviceS3, bad)
	}
	if v.Region != "" && c.cred.region != v.Region {
		return nil, fmt.Errorf("check credential region %q: expecting %q: %w", c.cred.region, v.Region, bad)
	}
	a := &Auth{Presigned: presigned, Region: c.cred.region, scope: c.cred.scope(), seed: c.signature}
	if err := v.checkTime(r, &c, a, bad); err != nil {
		return nil, err
	}
	if err := checkUnsignedHeaders(r, c.signed, presigned); err != nil {
		return nil, err
	}
	payloadLine, err := payloadOf(r, params, c.signed, a)
	if err != nil {
		return nil, err
	}
	var secret string
	ok := false
	if v.Lookup != nil {
		secret, ok = v.Lookup(c.cred.accessKey)
	}
	if !ok {
		return nil, fmt.Errorf("look up access key %q: %w", c.cred.accessKey, ErrInvalidAccessKeyID)
	}
	a.AccessKey = c.cred.accessKey
	a.signingKey = deriveSigningKey(secret, c.cred)
	if err := a.checkSignature(r, params, &c, payloadLine); err != nil {
		return nil, err
	}
	return a, nil
}

// parseClaim finds which form of authentication r uses and parses its
// claim.
func parseClaim(r *http.Request, params []queryParam) (claim, bool, error) {
	authz := r.Header.Values("Authorization")
	presigned, v2 := false, false
	for _, p := range params {
		switch p.name {
		case queryAlgorithm, queryCredential, querySignature:
			presigned = true
		case "AWSAccessKeyId":
			v2 = true
		}
	}
	switch {
	case len(authz) > 0 && presigned:
		return claim{}, false, fmt.Errorf("authenticate request: both Authorization header and X-Amz-Signature: %w", ErrInvalidRequest)
	case len(authz) > 1:
		return claim{}, false, fmt.Errorf("parse authorization header: sent %d times: %w", len(authz), ErrAuthorizationHeaderMalformed)
	case len(authz) == 1:
		c, err := parseAuthorization(authz[0])
		return c, false, err
	case presigned:
		c, err := parsePresigned(params)
		return c, true, err
	case v2:
		return claim{}, false, fmt.Errorf("accept presigned URL of signature version 2: %w", ErrNotImplemented)
	}
	return claim{}, false, fmt.Errorf("authenticate request: %w", ErrAnonymous)
}

// checkTime reads the signing time of the claim into a and checks it
// against the clock: within MaxSkew for a header signature, between
// X-Amz-Date (less MaxSkew) and its expiry for a presigned URL.
func (v *Verifier) checkTime(r *http.Request, c *claim, a *Auth, bad error) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if a.Presigned {
		a.amzDate = c.amzDate
		a.Time, _ = time.Parse(amzDateLayout, c.amzDate)
	} else if d := r.Header.Get("X-Amz-Date"); d != "" {
		t, err := time.Parse(amzDateLayout, d)
		if err != nil || len(d) != len(amzDateLayout) {
			return fmt.Errorf("parse x-amz-date %.32q: %w", d, ErrAccessDenied)
		}
		a.Time, a.amzDate = t, d
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return fmt.Errorf("parse date %.40q: %w", d, ErrAccessDenied)
		}
		a.Time, a.amzDate = t.UTC(), t.UTC().Format(amzDateLayout)
	} else {
		return fmt.Errorf("read signing time: no x-amz-date or date header: %w", ErrAccessDenied)
	}
	if a.amzDate[:len(scopeDateLayout)] != c.cred.date {
		return fmt.Errorf("check credential date %s: signing time is %s: %w", c.cred.date, a.amzDate, bad)
	}
	if a.Presigned {
		if a.Time.After(now.Add(skew)) {
			return fmt.Errorf("check presigned URL: not valid until %s: %w", a.Time.Format(time.RFC3339), ErrAccessDenied)
		}
		if exp := a.Time.Add(time.Duration(c.expires) * time.Second); now.After(exp) {
			return fmt.Errorf("check presigned URL: expired at %s: %w", exp.Format(time.RFC3339), ErrAccessDenied)
		}
		return nil
	}
	if d := now.Sub(a.Time); d > skew || d < -skew {
		return fmt.Errorf("check signing time %s: %s from server time %s: %w",
			a.Time.Format(time.RFC3339), d.Round(time.Second), now.UTC().Format(time.RFC3339), ErrRequestTimeTooSkewed)
	}
	return nil
}

// checkUnsignedHeaders refuses x-amz-* headers that are not signed, as S3
// does: a presigned PUT must not gain an x-amz-copy-source or metadata on
// the way. A presigned request may carry an unsigned x-amz-content-sha256,
// which is then ignored.
func checkUnsignedHeaders(r *http.Request, signed []string, presigned bool) error {
	for k := range r.Header {
		name := strings.ToLower(k)
		if !strings.HasPrefix(name, "x-amz-") || (presigned && name == headerContentSHA256) {
			continue
		}
		if !slices.Contains(signed, name) {
			return fmt.Errorf("check signed headers: %s is not signed: %w", name, ErrAccessDenied)
		}
	}
	return nil
}

// payloadOf reads what r declares about its body into a and returns the
// payload line of its canonical request.
func payloadOf(r *http.Request, params []queryParam, signed []string, a *Auth) (string, error) {
	line := ""
	if a.Presigned {
		line = unsignedPayload
		for _, p := range params {
			if p.name == queryContentSHA256 {
				line = p.value
			}
		}
		if line == unsignedPayload && slices.Contains(signed, headerContentSHA256) {
			line = strings.TrimSpace(r.Header.Get(headerContentSHA256))
		}
	} else {
		line = strings.TrimSpace(r.Header.Get(headerContentSHA256))
		if line == "" {
			return "", fmt.Errorf("read %s: missing: %w", headerContentSHA256, ErrInvalidRequest)
		}
	}
	kind, sum, err := parsePayload(line)
	if err != nil {
		return "", err
	}
	if a.Presigned && kind.Chunked() {
		return "", fmt.Errorf("accept presigned %s: %w", line, ErrNotImplemented)
	}
	a.Payload, a.PayloadSHA256 = kind, sum
	return line, nil
}

// checkSignature recomputes the request signature and compares it with
// the claimed one. The canonical URI is tried normalised first, then as
// the client encoded it if that differs.
func (a *Auth) checkSignature(r *http.Request, params []queryParam, c *claim, payloadLine string) error {
	normalized, wire, err := canonicalURIs(r)
	if err != nil {
		return err
	}
	query := canonicalQuery(params, a.Presigned)
	headers := canonicalHeaders(r, c.signed)
	var first *SignatureError
	for _, uri := range []string{normalized, wire} {
		creq := canonicalRequest(r.Method, uri, query, headers, c.signedList, payloadLine)
		sts := stringToSign(a.amzDate, a.scope, creq)
		if equalSignature(a.sign(sts), c.signature) {
			return nil
		}
		if first == nil {
			first = &SignatureError{What: "request", CanonicalRequest: creq, StringToSign: sts}
		}
		if wire == normalized {
			break
		}
	}
	return fmt.Errorf("verify signature: %w", first)
}
