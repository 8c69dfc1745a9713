package daemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"cairn/cas"
	"cairn/daemon/internal/sigv4"
	"cairn/raftfsm"

	"github.com/hashicorp/raft"
)

// Server is one cairn node: the chunk store, the Raft node and the HTTP
// surfaces. New opens and starts it; Serve answers requests until its
// context ends; Close releases everything. Its methods are safe for
// concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *cas.Store
	node    *raftfsm.Node
	cmux    *clusterMux
	peers   *peerClient
	httpLn  net.Listener
	httpSrv *http.Server
	peerSrv *http.Server
	metrics *metrics
	sigv4   *sigv4.Verifier
	s3keys  map[string]string
	partKey []byte // signs MLflow multipart part URLs

	bg     sync.WaitGroup
	stop   context.CancelFunc
	closed atomic.Bool
	once   sync.Once
}

// New opens the node's stores under cfg.DataDir, starts Raft (forming a
// single-node cluster on first start unless told to join or bootstrap a
// larger one) and listens on the HTTP and cluster addresses. It does not
// serve HTTP until Serve is called.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), metrics: newMetrics()}
	ok := false
	defer func() {
		if !ok {
			s.closeAll()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	var err error
	casOpts := cfg.CAS
	casOpts.Logger = cfg.Logger
	if s.store, err = cas.Open(filepath.Join(cfg.DataDir, "chunks"), casOpts); err != nil {
		return nil, err
	}
	if err := s.loadS3Keys(); err != nil {
		return nil, err
	}
	if s.partKey, err = loadPartKey(cfg.DataDir, cfg.ClusterSecret); err != nil {
		return nil, err
	}
	if s.cmux, err = newClusterMux(cfg.RaftAddr, cfg.ClusterTLS); err != nil {
		return nil, err
	}
	advertise := s.cmux.advertise.String()
	dialer := clusterDialer{tcp: cfg.Dial, tls: cfg.ClusterTLS}
	s.peers = newPeerClient(cfg.ClusterSecret, dialer)
	rc := raftfsm.Config{
		Dir: filepath.Join(cfg.DataDir, "raft"), ID: cfg.NodeID, Addr: advertise,
		StreamLayer:      raftLayer{chanListener: s.cmux.raft, dialer: dialer},
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		LeaderLeaseTimeout: cfg.HeartbeatTimeout / 2, CommitTimeout: cfg.CommitTimeout,
		SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs,
		Logger: cfg.Logger,
	}
	switch {
	case len(cfg.Bootstrap) > 0:
		for _, p := range cfg.Bootstrap {
			addr := p.RaftAddr
			if p.ID == cfg.NodeID {
				addr = advertise
			}
			rc.Bootstrap = append(rc.Bootstrap, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(addr), Suffrage: raft.Voter})
		}
	case cfg.Join == "":
		rc.Bootstrap = []raft.Server{{ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(advertise), Suffrage: raft.Voter}}
	}
	if s.node, err = raftfsm.Open(rc); err != nil {
		return nil, err
	}
	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on http address %s: %w", cfg.HTTPAddr, err)
	}
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	s.peerSrv = &http.Server{Handler: s.peerHandler(), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	ok = true
	return s, nil
}

// Addr returns the address the HTTP API listens on.
func (s *Server) Addr() string { return s.httpLn.Addr().String() }

// URL returns the base URL of the HTTP API.
func (s *Server) URL() string { return "http://" + s.Addr() }

// RaftAddr returns the cluster address other nodes reach this node at.
func (s *Server) RaftAddr() string { return s.cmux.advertise.String() }

// Node returns the Raft node, for tests and status.
func (s *Server) Node() *raftfsm.Node { return s.node }

// Store returns the chunk store, for tests and status.
func (s *Server) Store() *cas.Store { return s.store }

// Serve answers HTTP and peer requests and runs the background work
// (joining a cluster, garbage collection, repair) until ctx ends; then it
// stops accepting, lets requests in flight finish (up to the shutdown
// timeout), and closes the node.
func (s *Server) Serve(ctx context.Context) error {
	bgCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	errc := make(chan error, 2)
	go func() { errc <- s.httpSrv.Serve(s.httpLn) }()
	go func() { errc <- s.peerSrv.Serve(s.cmux.peer) }()
	s.startBackground(bgCtx)
	s.log.Info("serving", "http", s.URL(), "raft", s.RaftAddr(), "data", s.cfg.DataDir)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	return errors.Join(err, s.Close())
}

// Close stops serving, waits (up to the shutdown timeout) for requests in
// flight, shuts Raft down and closes the stores. It is safe to call more
// than once.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if s.httpSrv != nil {
			if e := s.httpSrv.Shutdown(ctx); e != nil {
				s.httpSrv.Close()
			}
		}
		if s.peerSrv != nil {
			s.peerSrv.Shutdown(ctx)
		}
		if s.stop != nil {
			s.stop()
		}
		s.bg.Wait()
		err = s.closeAll()
		s.log.Info("stopped")
	})
	return err
}

func (s *Server) closeAll() error {
	var errs []error
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	if s.node != nil {
		errs = append(errs, s.node.Close())
	}
	if s.cmux != nil {
		s.cmux.Close()
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

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
	s.sigv4 = &sigv4.Verifier{
		Lookup: func(ak string) (string, bool) { sk, ok := s.s3keys[ak]; return sk, ok },
		Region: s.cfg.S3Region,
		Now:    s.cfg.Now,
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
