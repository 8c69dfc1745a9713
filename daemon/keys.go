package daemon

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// loadS3Keys takes the configured keys, or loads (creating it on first
// start) the generated key pair kept in the data folder.
func (s *Server) loadS3Keys() error {
	s.s3keys = map[string]string{}
	keys := s.cfg.S3Keys
	if len(keys) == 0 {
		k, err := generatedS3Key(s.cfg.DataDir)
		if err != nil {
			return err
		}
		keys = []S3Key{k}
	}
	for _, k := range keys {
		s.s3keys[k.AccessKey] = k.SecretKey
	}
	return nil
}

// S3Credentials returns the first S3 access key pair.
func (s *Server) S3Credentials() S3Key {
	if len(s.cfg.S3Keys) > 0 {
		return s.cfg.S3Keys[0]
	}
	k, _ := generatedS3Key(s.cfg.DataDir)
	return k
}

const (
	s3KeyFile   = "s3-credentials.json"
	partKeyFile = "part-url-key"
)

// loadPartKey returns the key that signs MLflow part URLs: derived from
// the cluster secret, so that every node accepts a URL any node signed,
// or for a node without one, random and kept in the data folder.
func loadPartKey(dir, secret string) ([]byte, error) {
	if secret != "" {
		k := sha256.Sum256([]byte("cairn mlflow part urls\n" + secret))
		return k[:], nil
	}
	p := filepath.Join(dir, partKeyFile)
	if b, err := os.ReadFile(p); err == nil && len(b) == 32 {
		return b, nil
	}
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(p, k, 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

func generatedS3Key(dir string) (S3Key, error) {
	path := filepath.Join(dir, s3KeyFile)
	var k S3Key
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &k); err != nil || k.AccessKey == "" {
			return k, fmt.Errorf("read %s: malformed", path)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	ak, sk := make([]byte, 10), make([]byte, 20)
	rand.Read(ak)
	rand.Read(sk)
	k = S3Key{AccessKey: "CAIRN" + hex.EncodeToString(ak)[:15], SecretKey: hex.EncodeToString(sk)}
	b, _ = json.MarshalIndent(map[string]string{"access_key": k.AccessKey, "secret_key": k.SecretKey}, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return k, err
	}
	return k, os.Rename(tmp, path)
}
