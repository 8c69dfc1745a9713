package sigv4

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"
)

// The checksum algorithms S3 accepts in x-amz-checksum-<alg> headers and
// trailers, by their canonical names. Checksums and the S3 API spell them
// this way; the header names are their lowercase forms.
const (
	ChecksumCRC32     = "CRC32"
	ChecksumCRC32C    = "CRC32C"
	ChecksumCRC64NVME = "CRC64NVME"
	ChecksumSHA1      = "SHA1"
	ChecksumSHA256    = "SHA256"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial in the reversed form that
// hash/crc64 takes (normal form 0xad93d23594c93659).
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// ChecksumAlgorithms returns the canonical names of the supported checksum
// algorithms, in a fixed order.
func ChecksumAlgorithms() []string {
	return []string{ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256}
}

// CanonicalChecksum returns the canonical name of a checksum algorithm
// named in any letter case, and false if it is not supported.
func CanonicalChecksum(alg string) (string, bool) {
	for _, a := range ChecksumAlgorithms() {
		if strings.EqualFold(a, alg) {
			return a, true
		}
	}
	return "", false
}

// NewChecksum returns a new hash computing the checksum alg, named in any
// letter case. Its Sum is the big-endian value S3 sends in base64. The hash
// is not safe for concurrent use, like any hash.Hash.
func NewChecksum(alg string) (hash.Hash, error) {
	name, ok := CanonicalChecksum(alg)
	if !ok {
		return nil, fmt.Errorf("select checksum %q: %w", alg, ErrInvalidRequest)
	}
	switch name {
	case ChecksumCRC32:
		return crc32.NewIEEE(), nil
	case ChecksumCRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli)), nil
	case ChecksumCRC64NVME:
		return crc64.New(crc64.MakeTable(crc64NVMEPoly)), nil
	case ChecksumSHA1:
		return sha1.New(), nil
	default:
		return sha256.New(), nil
	}
}

// ChecksumHeader returns the header (and trailer) name that carries the
// checksum alg, such as "x-amz-checksum-crc32c".
func ChecksumHeader(alg string) string {
	return checksumHeaderPrefix + strings.ToLower(alg)
}

// ChecksumBase64 returns the base64 checksum alg of data, as S3 sends it.
func ChecksumBase64(alg string, data []byte) (string, error) {
	h, err := NewChecksum(alg)
	if err != nil {
		return "", err
	}
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// checksumSize returns the length in bytes of the checksum alg, which must
// be canonical.
func checksumSize(alg string) int {
	switch alg {
	case ChecksumCRC32, ChecksumCRC32C:
		return crc32.Size
	case ChecksumCRC64NVME:
		return crc64.Size
	case ChecksumSHA1:
		return sha1.Size
	default:
		return sha256.Size
	}
}

// decodeChecksum checks that value is the base64 of a checksum alg and
// returns the decoded bytes. what names the header or trailer in errors.
func decodeChecksum(alg, what, value string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil || len(b) != checksumSize(alg) {
		return nil, fmt.Errorf("decode %s %q: %w", what, value, ErrInvalidRequest)
	}
	return b, nil
}

// readChecksumHeaders reads the checksum a request declares, as an
// x-amz-checksum-<alg> header or, when trailerOK, as a trailer named in
// x-amz-trailer, and checks x-amz-sdk-checksum-algorithm against it. S3
// takes at most one checksum per request. It returns the number of
// trailers declared.
func (b *Body) readChecksumHeaders(r *http.Request, trailerOK bool) (int, error) {
	count := 0
	for k, v := range r.Header {
		name := strings.ToLower(k)
		suffix, ok := strings.CutPrefix(name, checksumHeaderPrefix)
		if !ok || suffix == "mode" || suffix == "type" || suffix == "algorithm" {
			continue
		}
		alg, ok := CanonicalChecksum(suffix)
		if !ok || len(v) != 1 {
			return 0, fmt.Errorf("read %s: unsupported or repeated: %w", name, ErrInvalidRequest)
		}
		want, err := decodeChecksum(alg, name, strings.TrimSpace(v[0]))
		if err != nil {
			return 0, err
		}
		b.alg, b.wantSum = alg, want
		count++
	}
	trailers := 0
	for _, v := range r.Header.Values(headerTrailer) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t == "" {
				continue
			}
			suffix, ok := strings.CutPrefix(t, checksumHeaderPrefix)
			alg, known := CanonicalChecksum(suffix)
			if !trailerOK || !ok || !known {
				return 0, fmt.Errorf("read %s %q: not a checksum trailer of this payload: %w", headerTrailer, t, ErrInvalidRequest)
			}
			b.alg, b.fromTrailer = alg, true
			count++
			trailers++
		}
	}
	if count > 1 {
		return 0, fmt.Errorf("read checksum headers: %d checksums, at most one is allowed: %w", count, ErrInvalidRequest)
	}
	if v := r.Header.Get(headerSDKChecksumAlgorithm); v != "" {
		alg, ok := CanonicalChecksum(strings.TrimSpace(v))
		if !ok || alg != b.alg {
			return 0, fmt.Errorf("read %s %q: no matching x-amz-checksum header or trailer: %w", headerSDKChecksumAlgorithm, v, ErrInvalidRequest)
		}
	}
	if b.alg != "" {
		b.sum, _ = NewChecksum(b.alg)
	}
	return trailers, nil
}

// checkChecksum compares the declared checksum, from its header or its
// trailer, with the payload's, and records it for Checksums.
func (b *Body) checkChecksum() error {
	var got []queryParam
	if b.chunks != nil {
		got = b.chunks.trailer
	}
	want, seen := b.wantSum, false
	for _, t := range got {
		if !b.fromTrailer || t.name != ChecksumHeader(b.alg) || seen {
			return fmt.Errorf("read trailer %s: not declared in %s: %w", t.name, headerTrailer, ErrInvalidRequest)
		}
		v, err := decodeChecksum(b.alg, "trailer "+t.name, t.value)
		if err != nil {
			return err
		}
		want, seen = v, true
	}
	if b.fromTrailer && !seen {
		return fmt.Errorf("read trailer %s: missing: %w", ChecksumHeader(b.alg), ErrInvalidRequest)
	}
	if b.alg == "" {
		return nil
	}
	sum := b.sum.Sum(nil)
	if !bytes.Equal(sum, want) {
		return fmt.Errorf("check %s: payload has %s: %w", ChecksumHeader(b.alg), base64.StdEncoding.EncodeToString(sum), ErrBadDigest)
	}
	b.checksums = map[string]string{b.alg: base64.StdEncoding.EncodeToString(sum)}
	return nil
}
