package daemon

import (
	"context"
	"crypto/tls"
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
	"cairn/daemon/auth"
	"cairn/daemon/cluster"
	"cairn/daemon/core"
	"cairn/daemon/internal/metrics"
	"cairn/daemon/mlflowapi"
	"cairn/daemon/nativeapi"
	"cairn/daemon/s3api"
	"cairn/daemon/tier"
	"cairn/daemon/upkeep"
	"cairn/raftfsm"
)

// Server is one cairn node: the chunk store, the Raft node, the cluster
// port and the HTTP surfaces. New opens and starts it; Serve answers
// requests until its context ends; Close releases everything. Its methods
// are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	store   *cas.Store
	raft    *raftfsm.Node
	cmux    *cluster.Mux
	members *cluster.Membership
	core    *core.Node
	tier    *tier.Bucket // nil without a cold tier
	upkeep  *upkeep.Upkeep
	secret  string
	sealer  *auth.Sealer
	keys    *auth.Keys

	s3     *s3api.API
	mlflow *mlflowapi.API
	native *nativeapi.API

	httpLn  net.Listener
	cert    *certificate // of the HTTP port, when it serves TLS
	httpSrv *http.Server
	peerSrv *http.Server

	keysSettled atomic.Bool // the configured access keys exist (bootstrapKeys)
	act         activity    // requests in flight on both ports

	bg   sync.WaitGroup
	stop context.CancelFunc
	once sync.Once
}

// New opens the node's stores under cfg.DataDir, starts Raft (forming a
// single-node cluster on first start unless told to join or bootstrap a
// larger one) and listens on the HTTP and cluster addresses. It does not
// serve HTTP until Serve is called.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), metrics: metrics.New(cfg.Version)}
	ok := false
	defer func() {
		if !ok {
			s.closeAll()
		}
	}()
	// The data folder holds secrets (the cluster secret, sealed access
	// keys): only the node's own user may enter it.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	var err error
	if s.secret, err = clusterSecret(cfg); err != nil {
		return nil, err
	}
	s.sealer = auth.NewSealer(s.secret)
	casOpts := cfg.CAS
	casOpts.Logger = cfg.Logger
	casOpts.RawWhenBusy = !cfg.CompressWhenBusy
	if s.store, err = cas.Open(filepath.Join(cfg.DataDir, "chunks"), casOpts); err != nil {
		return nil, err
	}
	if err := s.openCluster(); err != nil {
		return nil, err
	}
	anon := auth.None
	switch cfg.Anonymous {
	case "read":
		anon = auth.Read
	case "all":
		anon = auth.Admin
	}
	s.keys = auth.NewKeys(s.raft.State(), s.sealer, auth.Config{
		Token: cfg.Token, MLflowUsername: cfg.MLflowUsername, MLflowPassword: cfg.MLflowPassword,
		Anonymous: anon, Logger: s.log,
	})
	s.httpLn = cfg.HTTPListener
	if s.httpLn == nil {
		if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, &ListenError{Port: "http", Addr: cfg.HTTPAddr, Err: err}
		}
	}
	s.buildSurfaces(partKey(s.secret))
	s.metrics.Register(s.storeGauges)
	errLog := slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)
	s.httpSrv = &http.Server{Handler: s.act.track(s), ReadHeaderTimeout: 30 * time.Second, ErrorLog: errLog}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if s.cert, err = loadCertificate(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, err
		}
		s.httpSrv.TLSConfig = &tls.Config{GetCertificate: s.cert.get, MinVersion: tls.VersionTLS12}
	}
	s.peerSrv = &http.Server{Handler: s.act.track(&cluster.Server{Store: s.store, Node: s.raft, Members: s.members, Metrics: s.metrics}),
		ReadHeaderTimeout: 30 * time.Second, ErrorLog: errLog}
	ok = true
	return s, nil
}

// openCluster serves the cluster port and starts Raft over it.
func (s *Server) openCluster() error {
	cfg := s.cfg
	ln := cfg.ClusterListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
			return &ListenError{Port: "cluster", Addr: cfg.RaftAddr, Err: err}
		}
	}
	dialer := cluster.Dialer{TCP: cfg.Dial, TLS: cfg.ClusterTLS, Secret: s.secret}
	s.cmux = cluster.NewMux(ln, dialer, func(remote net.Addr, err error) {
		s.metrics.ClusterRefused.Add(1)
		s.log.Warn("cluster port refused a connection", "remote", remote.String(), "err", err)
	})
	advertise := s.cmux.Addr().String()
	rc := raftfsm.Config{
		Dir: filepath.Join(cfg.DataDir, "raft"), ID: cfg.NodeID, Addr: advertise,
		StreamLayer:      s.cmux.Raft(),
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		LeaderLeaseTimeout: cfg.HeartbeatTimeout / 2, CommitTimeout: cfg.CommitTimeout,
		SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs,
		MaxBatch: cfg.RaftMaxBatch, Logger: cfg.Logger,
	}
	switch {
	case len(cfg.Bootstrap) > 0:
		for _, p := range cfg.Bootstrap {
			addr := p.RaftAddr
			if p.ID == cfg.NodeID {
				addr = advertise
			}
			rc.Bootstrap = append(rc.Bootstrap, raftfsm.Member{ID: p.ID, Addr: addr, Voter: true})
		}
	case cfg.Join == "":
		rc.Bootstrap = []raftfsm.Member{{ID: cfg.NodeID, Addr: advertise, Voter: true}}
	}
	var err error
	if s.raft, err = raftfsm.Open(rc); err != nil {
		return err
	}
	peers := cluster.NewClient(dialer)
	s.members = cluster.NewMembership(cfg.NodeID, advertise, s.raft, peers, s.metrics, s.log)
	if cfg.olderRelease {
		s.members.Features = nil
	}
	if cfg.Tier.Endpoint != "" {
		// A stored form is at most a chunk and its codec's overhead.
		if s.tier, err = tier.Open(cfg.Tier, 2*s.store.Params().MaxSize+1024); err != nil {
			return err
		}
	}
	s.core = core.New(core.Config{
		ID: cfg.NodeID, Addr: advertise, Store: s.store, Raft: s.raft, Peers: peers,
		MaxObjectSize: cfg.MaxObjectSize, MaxUploads: cfg.MaxUploads, UploadMemory: uploadMemory(cfg.MemoryLimit), Metrics: s.metrics,
		Tier: s.tier, Now: cfg.Now, Logger: s.log,
	})
	return nil
}

// buildSurfaces builds the node's background work and its HTTP surfaces.
func (s *Server) buildSurfaces(partKey []byte) {
	cfg := s.cfg
	s.upkeep = upkeep.New(s.core, upkeep.Config{
		GCInterval: cfg.GCInterval, GCFullInterval: cfg.GCFullInterval, GCGrace: cfg.GCGrace, UploadExpiry: cfg.UploadExpiry,
		RepairInterval: cfg.RepairInterval, RepairRate: cfg.RepairRate,
		Tier: s.tier, TierAfter: cfg.TierAfter, TierInterval: cfg.TierInterval, Logger: s.log,
		HoldLateETags: cfg.holdLateETags, OlderRelease: cfg.olderRelease,
	})
	s.s3 = s3api.New(s.core, s3api.Config{
		Auth: s.keys, Region: cfg.S3Region, Domain: cfg.S3Domain, ConsistentReads: cfg.ConsistentReads, Now: cfg.Now, Logger: s.log,
	})
	s.mlflow = mlflowapi.New(s.core, mlflowapi.Config{
		Bucket: cfg.MLflowBucket, ConsistentReads: cfg.ConsistentReads, Auth: s.keys,
		PartKey: partKey, Logger: s.log,
	})
	s.native = nativeapi.New(s.core, s.upkeep, s.members, nativeapi.Config{
		Auth: s.keys, Sealer: s.sealer, MaxRestoreSize: cfg.MaxRestoreSize, Logger: s.log,
	})
}

// Addr returns the address the HTTP API listens on.
func (s *Server) Addr() string { return s.httpLn.Addr().String() }

// URL returns the base URL of the HTTP API.
func (s *Server) URL() string {
	if s.cert != nil {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// ReloadTLS reads the HTTP port's certificate and key again, for a
// renewed certificate; connections made from then on get the new one.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return nil
	}
	return s.cert.reload()
}

// RaftAddr returns the cluster address other nodes reach this node at.
func (s *Server) RaftAddr() string { return s.cmux.Addr().String() }

// Node returns the Raft node, for tests and status.
func (s *Server) Node() *raftfsm.Node { return s.raft }

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
	go func() {
		if s.cert != nil {
			errc <- s.httpSrv.ServeTLS(s.httpLn, "", "")
			return
		}
		errc <- s.httpSrv.Serve(s.httpLn)
	}()
	go func() { errc <- s.peerSrv.Serve(s.cmux.Peer()) }()
	if s.cfg.Join != "" {
		s.bg.Go(func() {
			if !s.members.IsMember() {
				s.members.Join(bgCtx, s.cfg.Join)
			}
		})
	}
	s.bg.Go(func() { s.bootstrapKeys(bgCtx) })
	s.bg.Go(func() { s.upkeep.Run(bgCtx) })
	if s.cfg.MemoryLimit > 0 {
		s.bg.Go(func() { s.releaseMemory(bgCtx) })
	}
	s.log.Info("serving", "http", s.URL(), "raft", s.RaftAddr(), "data", s.cfg.DataDir)
	s.warnExposure()
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
		s.core.Close()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if e := s.httpSrv.Shutdown(ctx); e != nil {
			s.httpSrv.Close()
		}
		s.peerSrv.Shutdown(ctx)
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
	if s.raft != nil {
		errs = append(errs, s.raft.Close())
	}
	if s.cmux != nil {
		s.cmux.Close()
	} else if s.cfg.ClusterListener != nil {
		s.cfg.ClusterListener.Close()
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// warnExposure warns, at every start, of what an operator may have opened
// without meaning to.
func (s *Server) warnExposure() {
	if s.cert == nil && !loopbackAddr(s.httpLn.Addr()) {
		s.log.Warn("the HTTP port serves plain HTTP on an address other machines reach: access keys and data cross the network in clear; give --tls-cert and --tls-key", "addr", s.Addr())
	}
	if s.cfg.ClusterTLS == nil && !loopbackAddr(s.cmux.Addr()) {
		s.log.Warn("the cluster port runs without TLS on an address other machines reach: connections are authenticated but not encrypted; give --cluster-tls-cert, -key and -ca", "addr", s.RaftAddr())
	}
	switch s.cfg.Anonymous {
	case "read":
		s.log.Warn("requests without credentials may read every object (--insecure-anonymous read)")
	case "all":
		s.log.Warn("requests without credentials may read, write, delete and administer everything (--insecure-anonymous all)")
	}
}

func loopbackAddr(a net.Addr) bool {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
