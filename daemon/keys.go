package daemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cairn/daemon/auth"
	"cairn/raftfsm"
)

// Files of the data folder that hold secrets, each 0600.
const (
	secretFile   = "cluster-secret"      // the secret a node alone generated
	adminKeyFile = "admin-key"           // the first admin key of a new cluster
	legacyS3File = "s3-credentials.json" // the key earlier versions generated
)

// clusterSecret returns the configured cluster secret, or the one this
// node generated alone on its first start (creating it if need be). A
// node that generated one refuses another: the access keys in its state
// are sealed under the first.
func clusterSecret(cfg Config) (string, error) {
	path := filepath.Join(cfg.DataDir, secretFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		kept := strings.TrimSpace(string(b))
		if cfg.ClusterSecret != "" && cfg.ClusterSecret != kept {
			return "", fmt.Errorf("the cluster secret given differs from the one this node generated, kept in %s, which sealed its access keys: give that one (every node of a cluster must have it)", path)
		}
		return kept, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	case cfg.ClusterSecret != "":
		return cfg.ClusterSecret, nil
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := hex.EncodeToString(raw)
	return secret, writeSecretFile(path, []byte(secret+"\n"))
}

// writeSecretFile writes a file only its owner can read, atomically.
func writeSecretFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// partKey is the key that signs MLflow part URLs: derived from the cluster
// secret, so that every node accepts a URL any node signed.
func partKey(secret string) []byte {
	k := sha256.Sum256([]byte("cairn mlflow part urls\n" + secret))
	return k[:]
}

// seeds returns the keys the configuration seeds: the configured S3 keys,
// or the one an earlier version generated in the data folder.
func (s *Server) seeds() ([]S3Key, error) {
	if len(s.cfg.S3Keys) > 0 {
		return s.cfg.S3Keys, nil
	}
	b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, legacyS3File))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var k S3Key
	if err := json.Unmarshal(b, &k); err != nil || k.AccessKey == "" {
		return nil, fmt.Errorf("read %s: malformed", legacyS3File)
	}
	return []S3Key{k}, nil
}

// bootstrapKeys makes the cluster's access keys what the configuration
// says, once a leader is known: each seeded key exists as an admin key
// with its configured secret, and a cluster that has no key at all gets
// one admin key, made by the leader, kept in its data folder and shown
// once. It retries until it succeeds or ctx ends.
func (s *Server) bootstrapKeys(ctx context.Context) {
	for {
		err := s.ensureKeys(ctx)
		if err == nil {
			s.keysSettled.Store(true)
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Debug("access keys not settled yet; retrying", "err", err)
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

func (s *Server) ensureKeys(ctx context.Context) error {
	if err := s.core.ReadBarrier(ctx); err != nil {
		return err
	}
	seeds, err := s.seeds()
	if err != nil {
		return err
	}
	for _, k := range seeds {
		if secret, ident, ok := s.keys.Lookup(k.AccessKey); ok && secret == k.SecretKey && ident.Role == auth.Admin && !ident.Scoped() {
			continue
		}
		_, err := s.core.Propose(ctx, &raftfsm.PutKey{Replace: true, Key: raftfsm.AccessKey{
			ID: k.AccessKey, Sealed: s.sealer.Seal(k.AccessKey, k.SecretKey), Role: raftfsm.RoleAdmin,
			Name: "seeded by configuration", Created: s.cfg.Now().UnixNano(),
		}})
		if err != nil {
			return fmt.Errorf("seed access key %s: %w", k.AccessKey, err)
		}
		s.log.Info("access key seeded", "id", k.AccessKey)
	}
	if len(seeds) > 0 || !s.raft.IsLeader() {
		return nil
	}
	keys, err := s.raft.State().AccessKeys()
	if err != nil || len(keys) > 0 {
		return err
	}
	id, secret := auth.NewKey()
	_, err = s.core.Propose(ctx, &raftfsm.PutKey{Key: raftfsm.AccessKey{
		ID: id, Sealed: s.sealer.Seal(id, secret), Role: raftfsm.RoleAdmin,
		Name: "first admin key", Created: s.cfg.Now().UnixNano(),
	}})
	if errors.Is(err, raftfsm.ErrConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the first admin key: %w", err)
	}
	// The key is in the state now: from here on, a failure must not make
	// a retry create a second one.
	path := filepath.Join(s.cfg.DataDir, adminKeyFile)
	b, _ := json.MarshalIndent(map[string]string{"access_key": id, "secret_key": secret, "token": id + ":" + secret}, "", "  ")
	if err := writeSecretFile(path, append(b, '\n')); err != nil {
		s.log.Error("keep the first admin key", "id", id, "err", err)
		path = ""
	} else {
		s.log.Info("first admin key created", "id", id, "file", path)
	}
	if s.cfg.OnFirstKey != nil {
		s.cfg.OnFirstKey(id, secret, path)
	}
	return nil
}

// AdminKey returns the first admin key of the cluster as this node keeps
// it (adminKeyFile), or the first seeded key, for tests and the banner.
func (s *Server) AdminKey() (S3Key, error) {
	if seeds, err := s.seeds(); err != nil || len(seeds) > 0 {
		if err != nil {
			return S3Key{}, err
		}
		return seeds[0], nil
	}
	b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, adminKeyFile))
	if err != nil {
		return S3Key{}, err
	}
	var k S3Key
	err = json.Unmarshal(b, &k)
	return k, err
}
