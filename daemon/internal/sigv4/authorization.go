package sigv4

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The query parameters of a presigned URL.
const (
	queryAlgorithm     = "X-Amz-Algorithm"
	queryCredential    = "X-Amz-Credential"
	queryDate          = "X-Amz-Date"
	queryExpires       = "X-Amz-Expires"
	querySignedHeaders = "X-Amz-SignedHeaders"
	querySignature     = "X-Amz-Signature"
	queryContentSHA256 = "X-Amz-Content-Sha256"

	maxPresignExpiry = 7 * 24 * 60 * 60 // seconds
)

// credential is the parsed Credential of a signature: the access key and
// the scope the signing key was derived for.
type credential struct {
	accessKey, date, region, service string
}

// scope returns the credential scope, date/region/service/aws4_request.
func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + scopeTerminator
}

// claim is what a client claims in an Authorization header or in the
// X-Amz-* parameters of a presigned URL.
type claim struct {
	cred       credential
	signed     []string // signed header names, sorted and unique
	signedList string   // the same, as sent
	signature  string   // lowercase hex
	amzDate    string   // X-Amz-Date, presigned only
	expires    int64    // X-Amz-Expires in seconds, presigned only
}

// parseAuthorization parses an Authorization header value of the form
// "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=<hex>". Its errors wrap
// ErrAuthorizationHeaderMalformed, or ErrNotImplemented for another
// signature version.
func parseAuthorization(h string) (claim, error) {
	bad := ErrAuthorizationHeaderMalformed
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	switch alg {
	case signingAlgorithm:
	case "AWS", "AWS4-ECDSA-P256-SHA256":
		return claim{}, fmt.Errorf("accept authorization algorithm %s: %w", alg, ErrNotImplemented)
	default:
		return claim{}, fmt.Errorf("parse authorization algorithm %.32q: %w", alg, bad)
	}
	var c claim
	var credStr, signedStr, sigStr string
	seen := make(map[string]bool, 3)
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		var dst *string
		switch k {
		case "Credential":
			dst = &credStr
		case "SignedHeaders":
			dst = &signedStr
		case "Signature":
			dst = &sigStr
		}
		if !ok || dst == nil || seen[k] {
			return claim{}, fmt.Errorf("parse authorization field %.64q: %w", part, bad)
		}
		seen[k] = true
		*dst = v
	}
	if len(seen) != 3 {
		return claim{}, fmt.Errorf("parse authorization header: missing Credential, SignedHeaders or Signature: %w", bad)
	}
	var err error
	if c.cred, err = parseCredential(credStr, bad); err != nil {
		return claim{}, err
	}
	if c.signed, err = parseSignedHeaders(signedStr, bad); err != nil {
		return claim{}, err
	}
	if c.signature, err = parseSignature(sigStr, bad); err != nil {
		return claim{}, err
	}
	c.signedList = signedStr
	return c, nil
}

// parsePresigned reads the X-Amz-* parameters of a presigned URL. Its
// errors wrap ErrAuthorizationQueryParametersError, or ErrNotImplemented
// for another signature version.
func parsePresigned(params []queryParam) (claim, error) {
	bad := ErrAuthorizationQueryParametersError
	get := func(name string) (string, error) {
		var v string
		n := 0
		for _, p := range params {
			if p.name == name {
				v, n = p.value, n+1
			}
		}
		if n != 1 {
			return "", fmt.Errorf("read query parameter %s: found %d times: %w", name, n, bad)
		}
		return v, nil
	}
	var vals [6]string
	for i, name := range []string{queryAlgorithm, queryCredential, queryDate, queryExpires, querySignedHeaders, querySignature} {
		v, err := get(name)
		if err != nil {
			return claim{}, err
		}
		vals[i] = v
	}
	switch vals[0] {
	case signingAlgorithm:
	case "AWS4-ECDSA-P256-SHA256":
		return claim{}, fmt.Errorf("accept presign algorithm %s: %w", vals[0], ErrNotImplemented)
	default:
		return claim{}, fmt.Errorf("parse %s %.32q: %w", queryAlgorithm, vals[0], bad)
	}
	var c claim
	var err error
	if c.cred, err = parseCredential(vals[1], bad); err != nil {
		return claim{}, err
	}
	if _, err := time.Parse(amzDateLayout, vals[2]); err != nil || len(vals[2]) != len(amzDateLayout) {
		return claim{}, fmt.Errorf("parse %s %.32q: %w", queryDate, vals[2], bad)
	}
	c.amzDate = vals[2]
	exp, err := strconv.ParseInt(vals[3], 10, 64)
	if err != nil || exp < 1 || exp > maxPresignExpiry || vals[3][0] == '+' {
		return claim{}, fmt.Errorf("parse %s %.32q: must be 1 to %d seconds: %w", queryExpires, vals[3], maxPresignExpiry, bad)
	}
	c.expires = exp
	if c.signed, err = parseSignedHeaders(vals[4], bad); err != nil {
		return claim{}, err
	}
	c.signedList = vals[4]
	if c.signature, err = parseSignature(vals[5], bad); err != nil {
		return claim{}, err
	}
	return c, nil
}

// parseCredential parses AK/20130524/us-east-1/s3/aws4_request. The access
// key is everything before the last four fields, so it may hold a '/'.
func parseCredential(s string, bad error) (credential, error) {
	f := strings.Split(s, "/")
	n := len(f)
	if n < 5 || f[n-1] != scopeTerminator {
		return credential{}, fmt.Errorf("parse credential %.128q: %w", s, bad)
	}
	c := credential{accessKey: strings.Join(f[:n-4], "/"), date: f[n-4], region: f[n-3], service: f[n-2]}
	if _, err := time.Parse(scopeDateLayout, c.date); err != nil || len(c.date) != len(scopeDateLayout) ||
		c.accessKey == "" || c.region == "" || c.service == "" {
		return credential{}, fmt.Errorf("parse credential %.128q: %w", s, bad)
	}
	return c, nil
}

// parseSignedHeaders parses "host;x-amz-date": lowercase header names,
// sorted, unique, host among them.
func parseSignedHeaders(s string, bad error) ([]string, error) {
	names := strings.Split(s, ";")
	host := false
	for i, n := range names {
		if !isHeaderName(n) || (i > 0 && names[i-1] >= n) {
			return nil, fmt.Errorf("parse signed headers %.128q: %w", s, bad)
		}
		host = host || n == "host"
	}
	if !host {
		return nil, fmt.Errorf("parse signed headers %.128q: host is not signed: %w", s, bad)
	}
	return names, nil
}

// isHeaderName reports whether n is a non-empty lowercase HTTP token.
func isHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// parseSignature checks that s is 64 lowercase hex digits.
func parseSignature(s string, bad error) (string, error) {
	if !isLowerHex(s, 64) {
		return "", fmt.Errorf("parse signature %.80q: %w", s, bad)
	}
	return s, nil
}

// isLowerHex reports whether s is n lowercase hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
