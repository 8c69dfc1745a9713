package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"cairn/cas"
	"cairn/daemon/tier"
	"cairn/raftfsm"
)

// Defaults of the embedded configuration: one node, data in ./cairn-data,
// listening on loopback only.
const (
	DefaultDataDir      = "cairn-data"
	DefaultHTTPAddr     = "127.0.0.1:8700"
	DefaultNodeID       = "node1"
	DefaultMLflowBucket = "mlflow"
	DefaultGCInterval   = 10 * time.Minute
	DefaultGCGrace      = time.Hour
	// DefaultGCFullInterval is how often GC walks every local chunk, to
	// find the ones no file ever referenced (uploads that failed before
	// their commit); the passes in between read only the zero-reference
	// table.
	DefaultGCFullInterval = 24 * time.Hour
	// DefaultTierAfter is how long a chunk goes unread before it moves to
	// the cold tier, when one is configured.
	DefaultTierAfter = 30 * 24 * time.Hour
	// DefaultTierRegion is the region the cold tier's requests are signed
	// for unless told otherwise.
	DefaultTierRegion = "us-east-1"
	// DefaultTierInterval is the time between passes of the cold tier.
	DefaultTierInterval = time.Hour
	// DefaultMemoryLimit is the memory budget of a node that is given
	// none (see Config.MemoryLimit and docs/operations.md's budget).
	DefaultMemoryLimit = 512 << 20
	DefaultShutdown    = 30 * time.Second
	// DefaultCommitTimeout bounds how late a follower learns of a commit:
	// raft's own 50 ms made every write through a follower wait 50 to
	// 100 ms for its local apply. Each follower costs an empty append RPC
	// every 5 to 10 ms when the cluster is idle.
	DefaultCommitTimeout = 5 * time.Millisecond
	// DefaultRaftMaxBatch is how many entries concurrent writes share in
	// one write of the Raft log, one append and one state transaction.
	DefaultRaftMaxBatch = raftfsm.DefaultMaxBatch
	// DefaultUploadExpiry is how long a multipart upload may stay
	// unfinished before the cluster aborts it, as MinIO does by default:
	// a client that died mid-upload would otherwise keep its parts'
	// chunks from GC for ever.
	DefaultUploadExpiry = 24 * time.Hour
	// DefaultMinFreeSpace is the disk space a node keeps free: writes of
	// new chunks that would go below it are refused with 507, so that a
	// full disk neither kills the node (Badger's memory-mapped value log
	// cannot report ENOSPC) nor leaves it without room to delete and
	// reclaim.
	DefaultMinFreeSpace = 1 << 30
	// DefaultRepairInterval is how often a node looks for missing chunks.
	DefaultRepairInterval = 10 * time.Second
	// DefaultRepairRate bounds how fast repair fetches chunks, in bytes
	// (before compression) a second.
	DefaultRepairRate = 64 << 20
	// DefaultMaxObjectSize bounds one object (5 TiB, as S3).
	DefaultMaxObjectSize = 5 << 40
	// DefaultMaxUploads bounds the bodies stored at once.
	DefaultMaxUploads = 64
	// DefaultBodyTimeout is how long a request body may deliver less than
	// 1 KiB before it is cut.
	DefaultBodyTimeout = time.Minute
	// DefaultMaxRestoreSize bounds a backup sent to admin/restore.
	DefaultMaxRestoreSize = 64 << 30
)

// Peer is a member of the initial cluster.
type Peer struct {
	ID       string
	RaftAddr string
}

// S3Key is an access key pair for the S3 API.
type S3Key struct {
	AccessKey string `yaml:"access_key" json:"access_key"`
	SecretKey string `yaml:"secret_key" json:"secret_key"`
}

// Config configures a node. The zero value, after Validate fills in the
// defaults, runs a single node that bootstraps itself.
type Config struct {
	DataDir  string
	HTTPAddr string
	// HTTPListener, when set, is the HTTP listener to serve on instead of
	// listening on HTTPAddr; the Server owns it from New on.
	HTTPListener net.Listener
	// TLSCert and TLSKey, when set, are the PEM files of the HTTP port's
	// certificate: every surface is then served over TLS only.
	// Server.ReloadTLS reads them again.
	TLSCert, TLSKey string
	// NodeID names this node in the cluster (default: "node1" for a
	// single node).
	NodeID string
	// RaftAddr is where this node listens for Raft and peer traffic, and
	// the address other nodes dial (default: HTTPAddr's host and the next
	// port, so that nodes started on one machine with their own HTTP
	// ports do not collide on the cluster port).
	RaftAddr string
	// ClusterListener, when set, is the cluster port's listener, instead
	// of listening on RaftAddr; the Server owns it from New on. Other
	// nodes dial its address.
	ClusterListener net.Listener
	// Bootstrap lists the initial voters of a new cluster, this node
	// included. Empty, with Join empty too, bootstraps a single node.
	Bootstrap []Peer
	// Join is the cluster address of a member to join on first start:
	// host:port, or a URL whose scheme Validate drops.
	Join string
	// ClusterSecret authenticates every connection between nodes, and
	// seals the access keys' secrets in the replicated state. A node alone
	// generates one on first start, kept in the data folder
	// (cluster-secret); a cluster needs it given, the same on every node.
	ClusterSecret string
	// ClusterTLS, when set, runs mutual TLS on the cluster port: the node
	// serves and presents ClusterTLS.Certificates, and peers' certificates
	// must chain to the cluster CA (RootCAs and ClientCAs); see
	// LoadClusterTLS.
	ClusterTLS *tls.Config
	// Dial opens connections to other nodes' cluster addresses (default
	// net.Dialer); tests inject faults here.
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	// Token, when set, is a bearer token with the admin role on the
	// native and MLflow APIs, besides the access keys.
	Token string
	// S3Keys seed admin access keys of the cluster: each is created, or
	// updated to this secret, at start. Without any, the first start of a
	// cluster creates one admin key and hands it to OnFirstKey.
	S3Keys []S3Key
	// OnFirstKey, when set, is told the admin key a new cluster created,
	// and the file it is kept in: the one time its secret is shown.
	OnFirstKey func(id, secret, path string)
	// Anonymous is what requests without credentials may do: "" (nothing
	// but /healthz and /readyz), "read" or "all". Only for a laptop.
	Anonymous string
	// MetricsOpen serves /metrics without credentials from anywhere; it is
	// always open to loopback clients.
	MetricsOpen bool
	S3Region    string // "" accepts any region in signatures
	// S3Domain enables virtual-host-style requests: <bucket>.<S3Domain>.
	S3Domain string
	// MLflowBucket holds what MLflow's proxied artifact API writes.
	MLflowBucket string
	// MLflowUsername/MLflowPassword are HTTP Basic credentials with the
	// write role on the MLflow and native APIs, besides the access keys.
	MLflowUsername string
	MLflowPassword string

	// ConsistentReads makes S3 and MLflow reads confirm leadership (or
	// go through the leader) before answering.
	ConsistentReads bool
	// MaxObjectSize bounds one object (default DefaultMaxObjectSize).
	MaxObjectSize int64
	// MaxUploads bounds the request bodies stored at once, objects and
	// parts of every surface; more are refused with 503 SlowDown
	// (default DefaultMaxUploads).
	MaxUploads int
	// BodyTimeout cuts a request body that delivers less than 1 KiB in
	// that time (default DefaultBodyTimeout).
	BodyTimeout time.Duration
	// MaxRestoreSize bounds a backup sent to admin/restore (default
	// DefaultMaxRestoreSize).
	MaxRestoreSize int64
	GCInterval     time.Duration // 0: DefaultGCInterval; negative: no GC loop
	GCGrace        time.Duration // how long an unreferenced chunk in use by a writer is kept
	// GCFullInterval is how often GC walks the whole chunk store (0:
	// DefaultGCFullInterval; negative: never on its own).
	GCFullInterval time.Duration
	// Tier is the cold tier: an S3-compatible bucket where chunks unread
	// for TierAfter move (an empty Endpoint: none). TierAfter and
	// TierInterval: 0 for the defaults; TierInterval negative: passes
	// only when asked for.
	Tier         tier.Config
	TierAfter    time.Duration
	TierInterval time.Duration
	// MemoryLimit is the memory budget of the node's process, in bytes
	// (0: DefaultMemoryLimit; negative: none). The process's owner sets it as Go's soft memory limit
	// (runtime/debug.SetMemoryLimit); the node sizes its caches and its
	// upload window from it, and gives free heap back to the system
	// when its requests stop.
	MemoryLimit int64
	// MinFreeSpace is the disk space, in bytes, that writes of new chunks
	// and of commands other than deletes leave free on the chunk store's
	// file system (0: DefaultMinFreeSpace; negative: no check).
	MinFreeSpace int64
	// CompressWhenBusy keeps compressing new chunks (S2) while every core
	// of the machine is busy. By default a node then writes them raw and
	// leaves them to the compactor (cas.Options.RawWhenBusy): fewer CPU
	// cycles a write, twice the bytes written meanwhile for JSON
	// boosters; set it on a node whose disk, not CPU, is the limit.
	CompressWhenBusy bool
	// UploadExpiry is how long after its creation an unfinished multipart
	// upload (S3 or MLflow) is aborted by the leader (0: DefaultUploadExpiry;
	// negative: never).
	UploadExpiry    time.Duration
	ShutdownTimeout time.Duration

	// RepairInterval is how often the node looks for chunks it lacks
	// (default 10s); a pass that finds many goes on until none is left.
	RepairInterval time.Duration
	// RepairRate bounds repair's fetching, in bytes a second before
	// compression (default DefaultRepairRate, 64 MiB/s).
	RepairRate int64

	CAS cas.Options
	// Raft timing and snapshot thresholds, zero for the defaults.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// CommitTimeout is how long the leader lets a follower go without an
	// append when no writes flow (default DefaultCommitTimeout). Raft's
	// heartbeats do not carry the commit index, so this is also how late
	// a follower may learn that an entry committed, which a write through
	// that follower waits for before it answers.
	CommitTimeout     time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// RaftMaxBatch bounds the entries that concurrent writes share in one
	// write of the Raft log, one append to a follower and one transaction
	// of the state (default DefaultRaftMaxBatch; 1 turns the sharing
	// off, for measurements).
	RaftMaxBatch int

	// Version is the build's version, for cairn_build_info.
	Version string
	// Now is the clock for the times written into commands (default
	// time.Now).
	Now    func() time.Time
	Logger *slog.Logger

	// holdLateETags, in tests, keeps the leader from filling late ETags
	// (core.ETags), so that readers and conditional writes meet them.
	holdLateETags bool
	// olderRelease, in tests, has the node tell its peers it knows no
	// cluster feature and never turn one on, as a node of a release
	// before features.
	olderRelease bool
}

// Validate fills in defaults and checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	switch {
	case c.HTTPAddr != "":
	case c.HTTPListener != nil:
		c.HTTPAddr = c.HTTPListener.Addr().String()
	default:
		c.HTTPAddr = DefaultHTTPAddr
	}
	switch {
	case c.RaftAddr != "":
	case c.ClusterListener != nil:
		c.RaftAddr = c.ClusterListener.Addr().String()
	default:
		addr, err := nextPort(c.HTTPAddr)
		if err != nil {
			errs = append(errs, err)
		}
		c.RaftAddr = addr
	}
	if c.Join != "" {
		addr, err := ParseJoin(c.Join)
		if err != nil {
			errs = append(errs, err)
		}
		c.Join = addr
	}
	if c.NodeID == "" {
		c.NodeID = DefaultNodeID
	}
	if t := c.Tier; t.Endpoint != "" || t.Bucket != "" || t.Prefix != "" || t.AccessKey != "" || t.SecretKey != "" {
		switch {
		case t.Endpoint == "" || t.Bucket == "":
			errs = append(errs, fmt.Errorf("the cold tier needs both tier_endpoint and tier_bucket"))
		case !strings.HasPrefix(t.Endpoint, "http://") && !strings.HasPrefix(t.Endpoint, "https://"):
			errs = append(errs, fmt.Errorf("tier_endpoint %q: give a URL such as http://10.0.0.9:9000", t.Endpoint))
		case (t.AccessKey == "") != (t.SecretKey == ""):
			errs = append(errs, fmt.Errorf("the cold tier needs tier_access_key and tier_secret_key together"))
		}
	}
	if c.MLflowBucket == "" {
		c.MLflowBucket = DefaultMLflowBucket
	}
	if c.MaxObjectSize == 0 {
		c.MaxObjectSize = DefaultMaxObjectSize
	}
	if c.MaxUploads == 0 {
		c.MaxUploads = DefaultMaxUploads
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.MaxRestoreSize == 0 {
		c.MaxRestoreSize = DefaultMaxRestoreSize
	}
	if c.GCInterval == 0 {
		c.GCInterval = DefaultGCInterval
	}
	if c.GCGrace == 0 {
		c.GCGrace = DefaultGCGrace
	}
	if c.GCFullInterval == 0 {
		c.GCFullInterval = DefaultGCFullInterval
	}
	if c.UploadExpiry == 0 {
		c.UploadExpiry = DefaultUploadExpiry
	}
	if c.Tier.Region == "" {
		c.Tier.Region = DefaultTierRegion
	}
	if c.TierAfter == 0 {
		c.TierAfter = DefaultTierAfter
	}
	if c.TierInterval == 0 {
		c.TierInterval = DefaultTierInterval
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MemoryLimit > 0 && c.CAS.CacheSize == 0 {
		// The decoded-chunk cache: 32 MiB in the default budget.
		c.CAS.CacheSize = c.MemoryLimit / 16
	}
	if c.MinFreeSpace == 0 {
		c.MinFreeSpace = DefaultMinFreeSpace
	}
	if c.MinFreeSpace > 0 && c.CAS.MinFreeSpace == 0 {
		c.CAS.MinFreeSpace = c.MinFreeSpace
	}
	if c.RepairInterval == 0 {
		c.RepairInterval = DefaultRepairInterval
	}
	if c.RepairRate == 0 {
		c.RepairRate = DefaultRepairRate
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.RaftMaxBatch == 0 {
		c.RaftMaxBatch = DefaultRaftMaxBatch
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdown
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CAS.Now == nil {
		c.CAS.Now = c.Now
	}
	for _, a := range []struct{ name, addr string }{{"http addr", c.HTTPAddr}, {"raft addr", c.RaftAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil && a.addr != "" {
			errs = append(errs, fmt.Errorf("%s %q: %w", a.name, a.addr, err))
		}
	}
	if c.RaftMaxBatch < 0 || c.RaftMaxBatch > 1024 {
		errs = append(errs, fmt.Errorf("raft max batch %d: want 1 to 1024", c.RaftMaxBatch))
	}
	if len(c.Bootstrap) > 0 && c.Join != "" {
		errs = append(errs, errors.New("give either bootstrap peers or a member to join, not both"))
	}
	if len(c.Bootstrap) > 0 {
		found := false
		for _, p := range c.Bootstrap {
			found = found || p.ID == c.NodeID
		}
		if !found {
			errs = append(errs, fmt.Errorf("bootstrap peers do not include this node %q", c.NodeID))
		}
		if c.ClusterSecret == "" {
			errs = append(errs, errors.New("a cluster needs a cluster secret"))
		}
	}
	if c.Join != "" && c.ClusterSecret == "" {
		errs = append(errs, errors.New("joining a cluster needs the cluster secret"))
	}
	switch c.Anonymous {
	case "", "read", "all":
	default:
		errs = append(errs, fmt.Errorf("anonymous access %q: want read or all (or nothing)", c.Anonymous))
	}
	if c.MaxObjectSize < 0 || c.MaxUploads < 0 || c.MaxRestoreSize < 0 {
		errs = append(errs, errors.New("the maximum object size, uploads and restore size must be positive"))
	}
	if c.RepairRate < 0 || c.RepairInterval < 0 {
		errs = append(errs, fmt.Errorf("repair rate %d and interval %v must be positive", c.RepairRate, c.RepairInterval))
	}
	for _, k := range c.S3Keys {
		if k.AccessKey == "" || k.SecretKey == "" || strings.ContainsAny(k.AccessKey, "/ ") {
			errs = append(errs, fmt.Errorf("invalid S3 key %q", k.AccessKey))
		}
	}
	return errors.Join(errs...)
}

// ParsePeers parses "id=raftaddr,id=raftaddr".
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("peer %q: want id=host:port", p)
		}
		out = append(out, Peer{ID: id, RaftAddr: addr})
	}
	return out, nil
}

// nextPort returns the address on the host of httpAddr at the next port:
// the default cluster address. Port 0 (any free port) stays 0.
func nextPort(httpAddr string) (string, error) {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "", nil // Validate reports the HTTP address itself
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 65535 {
		return "", fmt.Errorf("no cluster address given, and the http address %q has no next port to use for it", httpAddr)
	}
	if n > 0 {
		n++
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), nil
}

// ParseJoin returns the cluster address (host:port) of a member to join,
// given as host:port or as a URL such as http://host:port.
func ParseJoin(s string) (string, error) {
	addr := strings.TrimSpace(s)
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http", "https", "tcp":
		default:
			return "", fmt.Errorf("join %q: want a member's cluster address, host:port", s)
		}
		addr = strings.TrimSuffix(rest, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || strings.ContainsAny(addr, "/?#") {
		return "", fmt.Errorf("join %q: want a member's cluster address, host:port", s)
	}
	return addr, nil
}
