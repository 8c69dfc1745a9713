package sigv4

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
)

// TestChecksumKnownAnswers checks each algorithm against its published
// check value over "123456789" (CRC-64/NVME: 0xae8b14860a799888), in any
// letter case of its name.
func TestChecksumKnownAnswers(t *testing.T) {
	cases := map[string]string{
		"crc32":     "cbf43926",
		"CRC32C":    "e3069283",
		"Crc64Nvme": "ae8b14860a799888",
		"sha1":      "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
		"SHA256":    "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
	}
	for alg, want := range cases {
		h, err := NewChecksum(alg)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte("1234"))
		h.Write([]byte("56789"))
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s = %s, want %s", alg, got, want)
		}
		raw, _ := hex.DecodeString(want)
		if b64, _ := ChecksumBase64(alg, []byte("123456789")); b64 != base64.StdEncoding.EncodeToString(raw) {
			t.Errorf("ChecksumBase64(%s) = %s", alg, b64)
		}
	}
}

// TestChecksumNames checks the canonical names, header names and the
// refusal of unknown algorithms.
func TestChecksumNames(t *testing.T) {
	if got := ChecksumAlgorithms(); len(got) != 5 || got[2] != ChecksumCRC64NVME {
		t.Fatalf("ChecksumAlgorithms() = %v", got)
	}
	for _, alg := range ChecksumAlgorithms() {
		if name, ok := CanonicalChecksum(ChecksumHeader(alg)[len(checksumHeaderPrefix):]); !ok || name != alg {
			t.Errorf("%s: header %s maps back to %q", alg, ChecksumHeader(alg), name)
		}
	}
	for _, bad := range []string{"", "md5", "crc", "xxhash64", "CRC32 "} {
		if _, err := NewChecksum(bad); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("NewChecksum(%q) err = %v", bad, err)
		}
	}
}
