//go:generate go test -run ^TestSettings_Doc$ -update .

package main

import (
	"log/slog"
	"strconv"
	"time"

	"cairn/daemon"
)

// A setting is one item of cairn serve's configuration. Each is a flag
// (--Flag), an environment variable (Env) and a key of the YAML file
// (Key); a flag wins over the environment, which wins over the file,
// which wins over Default. Flag is Key with dashes, and Env is Key in
// capitals after CAIRN_ (a test holds every entry to that).
type setting struct {
	Key  string
	Flag string
	Env  string
	// Default is the value the setting takes when nothing gives it, in
	// the form a user would write; "" when it has none, or when the
	// daemon works it out (DefaultText then says how).
	Default     string
	DefaultText string
	Help        string
	// Secret settings are never printed: no default, and errors about
	// them do not repeat the text given.
	Secret bool
	value  value
}

// options is what settings land in: the daemon's configuration, and the
// few values that serve turns into parts of it (the logger, the cluster
// TLS configuration, the access key given in two halves).
type options struct {
	cfg        daemon.Config
	configPath string
	logLevel   slog.Level
	clusterTLS struct{ cert, key, ca string }
	seedKey    daemon.S3Key
	// from says where each setting's value came from, by flag name:
	// "flag", "env", "file" or "default"; absent when nothing gave it.
	from map[string]string
}

// settings is the one table of cairn serve's configuration: it parses
// the flags, the environment and the file, and it writes serve --help and
// the table of docs/operations.md. Its order is theirs.
func settings() []setting {
	c := func(f func(*daemon.Config) *string) func(*options) *string {
		return func(o *options) *string { return f(&o.cfg) }
	}
	return []setting{
		{Key: "", Flag: "config", Env: "CAIRN_CONFIG",
			Help:  "YAML file of settings, by their yaml keys; flags and the environment override it",
			value: text("file", func(o *options) *string { return &o.configPath })},
		{Key: "data_dir", Flag: "data-dir", Env: "CAIRN_DATA_DIR", Default: daemon.DefaultDataDir,
			Help:  "data folder: chunk store, state, Raft log, cluster secret, first admin key (made 0700)",
			value: text("path", c(func(c *daemon.Config) *string { return &c.DataDir }))},
		{Key: "http_addr", Flag: "http-addr", Env: "CAIRN_HTTP_ADDR", Default: daemon.DefaultHTTPAddr,
			Help:  "address of the HTTP port: S3, MLflow's artifact API, the native API, /metrics",
			value: text("host:port", c(func(c *daemon.Config) *string { return &c.HTTPAddr }))},
		{Key: "raft_addr", Flag: "raft-addr", Env: "CAIRN_RAFT_ADDR", DefaultText: "http_addr's host, port + 1",
			Help:  "address of the cluster port (Raft and the peer protocol), where other nodes reach this one",
			value: text("host:port", c(func(c *daemon.Config) *string { return &c.RaftAddr }))},
		{Key: "node_id", Flag: "node-id", Env: "CAIRN_NODE_ID", Default: daemon.DefaultNodeID,
			Help:  "this node's name in the cluster; keep it once the node is a member",
			value: text("name", c(func(c *daemon.Config) *string { return &c.NodeID }))},
		{Key: "bootstrap", Flag: "bootstrap", Env: "CAIRN_BOOTSTRAP",
			Help:  "voters of a new cluster, this node included, as id=host:port,... (cluster addresses); used only while the node has no Raft state",
			value: peersValue{}},
		{Key: "join", Flag: "join", Env: "CAIRN_JOIN",
			Help:  "cluster address of a member to join on first start, host:port (or a URL, whose scheme is dropped)",
			value: text("host:port", c(func(c *daemon.Config) *string { return &c.Join }))},
		{Key: "cluster_secret", Flag: "cluster-secret", Env: "CAIRN_CLUSTER_SECRET", Secret: true,
			DefaultText: "a node alone makes one",
			Help:        "secret every node of the cluster shares: it authenticates the cluster port and seals access keys",
			value:       text("secret", c(func(c *daemon.Config) *string { return &c.ClusterSecret }))},
		{Key: "cluster_tls_cert", Flag: "cluster-tls-cert", Env: "CAIRN_CLUSTER_TLS_CERT",
			Help:  "PEM certificate the cluster port serves and presents (mutual TLS between nodes, with the key and CA below)",
			value: text("file", func(o *options) *string { return &o.clusterTLS.cert })},
		{Key: "cluster_tls_key", Flag: "cluster-tls-key", Env: "CAIRN_CLUSTER_TLS_KEY",
			Help:  "PEM key of cluster_tls_cert",
			value: text("file", func(o *options) *string { return &o.clusterTLS.key })},
		{Key: "cluster_tls_ca", Flag: "cluster-tls-ca", Env: "CAIRN_CLUSTER_TLS_CA",
			Help:  "PEM CA bundle that other nodes' certificates must chain to",
			value: text("file", func(o *options) *string { return &o.clusterTLS.ca })},
		{Key: "tls_cert", Flag: "tls-cert", Env: "CAIRN_TLS_CERT",
			Help:  "PEM certificate of the HTTP port, which then serves HTTPS only; read again on SIGHUP",
			value: text("file", c(func(c *daemon.Config) *string { return &c.TLSCert }))},
		{Key: "tls_key", Flag: "tls-key", Env: "CAIRN_TLS_KEY",
			Help:  "PEM key of tls_cert",
			value: text("file", c(func(c *daemon.Config) *string { return &c.TLSKey }))},
		{Key: "s3_keys", Flag: "s3-keys", Env: "CAIRN_S3_KEYS", Secret: true,
			Help:  "admin access keys seeded at every start, as id:secret,... (in the file, a list of {access_key, secret_key}); without any, a new cluster makes one",
			value: keysValue{}},
		{Key: "s3_access_key", Flag: "s3-access-key", Env: "CAIRN_S3_ACCESS_KEY",
			Help:  "id of one admin access key to seed at every start, with s3_secret_key",
			value: text("id", func(o *options) *string { return &o.seedKey.AccessKey })},
		{Key: "s3_secret_key", Flag: "s3-secret-key", Env: "CAIRN_S3_SECRET_KEY", Secret: true,
			Help:  "secret of s3_access_key",
			value: text("secret", func(o *options) *string { return &o.seedKey.SecretKey })},
		{Key: "token", Flag: "token", Env: "CAIRN_TOKEN", Secret: true,
			Help:  "a bearer token with the admin role, besides the access keys (from earlier versions)",
			value: text("secret", c(func(c *daemon.Config) *string { return &c.Token }))},
		{Key: "mlflow_username", Flag: "mlflow-username", Env: "CAIRN_MLFLOW_USERNAME",
			Help:  "HTTP Basic user with the write role, besides the access keys (from earlier versions)",
			value: text("name", c(func(c *daemon.Config) *string { return &c.MLflowUsername }))},
		{Key: "mlflow_password", Flag: "mlflow-password", Env: "CAIRN_MLFLOW_PASSWORD", Secret: true,
			Help:  "password of mlflow_username",
			value: text("secret", c(func(c *daemon.Config) *string { return &c.MLflowPassword }))},
		{Key: "insecure_anonymous", Flag: "insecure-anonymous", Env: "CAIRN_INSECURE_ANONYMOUS", DefaultText: "none",
			Help:  "let requests without credentials read (read) or do anything (all): for a laptop only",
			value: field[string]{"read|all", parseAnonymous, c(func(c *daemon.Config) *string { return &c.Anonymous })}},
		{Key: "metrics_open", Flag: "metrics-open", Env: "CAIRN_METRICS_OPEN", Default: "false",
			Help:  "serve /metrics to any client without credentials (loopback clients always get it)",
			value: boolean(func(o *options) *bool { return &o.cfg.MetricsOpen })},
		{Key: "s3_region", Flag: "s3-region", Env: "CAIRN_S3_REGION", DefaultText: "any",
			Help:  "region S3 signatures must name",
			value: text("region", c(func(c *daemon.Config) *string { return &c.S3Region }))},
		{Key: "s3_domain", Flag: "s3-domain", Env: "CAIRN_S3_DOMAIN", DefaultText: "none",
			Help:  "domain of virtual-host-style S3 requests (bucket.domain)",
			value: text("domain", c(func(c *daemon.Config) *string { return &c.S3Domain }))},
		{Key: "mlflow_bucket", Flag: "mlflow-bucket", Env: "CAIRN_MLFLOW_BUCKET", Default: daemon.DefaultMLflowBucket,
			Help:  "bucket of MLflow's proxied artifact API",
			value: text("bucket", c(func(c *daemon.Config) *string { return &c.MLflowBucket }))},
		{Key: "consistent_reads", Flag: "consistent-reads", Env: "CAIRN_CONSISTENT_READS", Default: "false",
			Help:  "S3 and MLflow reads first catch up with the leader, so they see every acknowledged write",
			value: boolean(func(o *options) *bool { return &o.cfg.ConsistentReads })},
		{Key: "max_object_size", Flag: "max-object-size", Env: "CAIRN_MAX_OBJECT_SIZE", Default: formatBytes(daemon.DefaultMaxObjectSize),
			Help:  "largest object a write may store",
			value: size(func(o *options) *int64 { return &o.cfg.MaxObjectSize })},
		{Key: "max_uploads", Flag: "max-uploads", Env: "CAIRN_MAX_UPLOADS", Default: strconv.Itoa(daemon.DefaultMaxUploads),
			Help:  "request bodies stored at once, on every surface; more get 503 SlowDown",
			value: integer(func(o *options) *int { return &o.cfg.MaxUploads })},
		{Key: "body_timeout", Flag: "body-timeout", Env: "CAIRN_BODY_TIMEOUT", Default: formatDuration(daemon.DefaultBodyTimeout),
			Help:  "a request body that sends less than 1 KiB in this long is cut",
			value: duration(func(o *options) *time.Duration { return &o.cfg.BodyTimeout })},
		{Key: "max_restore_size", Flag: "max-restore-size", Env: "CAIRN_MAX_RESTORE_SIZE", Default: formatBytes(daemon.DefaultMaxRestoreSize),
			Help:  "largest backup admin/restore accepts",
			value: size(func(o *options) *int64 { return &o.cfg.MaxRestoreSize })},
		{Key: "gc_interval", Flag: "gc-interval", Env: "CAIRN_GC_INTERVAL", Default: formatDuration(daemon.DefaultGCInterval),
			Help:  "time between garbage collections; negative: none but those asked for",
			value: duration(func(o *options) *time.Duration { return &o.cfg.GCInterval })},
		{Key: "gc_full_interval", Flag: "gc-full-interval", Env: "CAIRN_GC_FULL_INTERVAL", Default: formatDuration(daemon.DefaultGCFullInterval),
			Help:  "time between GC passes that walk every chunk, to find those no file ever referenced (the others read only what deletes left); negative: none but those asked for",
			value: duration(func(o *options) *time.Duration { return &o.cfg.GCFullInterval })},
		{Key: "gc_grace", Flag: "gc-grace", Env: "CAIRN_GC_GRACE", Default: formatDuration(daemon.DefaultGCGrace),
			Help:  "how long GC keeps an unreferenced chunk that a writer touched; longer than your slowest upload",
			value: duration(func(o *options) *time.Duration { return &o.cfg.GCGrace })},
		{Key: "upload_expiry", Flag: "upload-expiry", Env: "CAIRN_UPLOAD_EXPIRY", Default: formatDuration(daemon.DefaultUploadExpiry),
			Help:  "multipart uploads unfinished this long after they began are aborted; negative: never",
			value: duration(func(o *options) *time.Duration { return &o.cfg.UploadExpiry })},
		{Key: "tier_endpoint", Flag: "tier-endpoint", Env: "CAIRN_TIER_ENDPOINT", DefaultText: "none",
			Help:  "URL of the S3-compatible service of the cold tier (MinIO, Ceph RGW, AWS S3, another cairn); chunks unread for tier_after move there",
			value: text("url", c(func(c *daemon.Config) *string { return &c.Tier.Endpoint }))},
		{Key: "tier_bucket", Flag: "tier-bucket", Env: "CAIRN_TIER_BUCKET", DefaultText: "none",
			Help:  "bucket of the cold tier; it must exist",
			value: text("bucket", c(func(c *daemon.Config) *string { return &c.Tier.Bucket }))},
		{Key: "tier_prefix", Flag: "tier-prefix", Env: "CAIRN_TIER_PREFIX", DefaultText: "none",
			Help:  "key prefix of this cluster's chunks in the tier's bucket",
			value: text("prefix", c(func(c *daemon.Config) *string { return &c.Tier.Prefix }))},
		{Key: "tier_region", Flag: "tier-region", Env: "CAIRN_TIER_REGION", Default: daemon.DefaultTierRegion,
			Help:  "region the tier's requests are signed for",
			value: text("region", c(func(c *daemon.Config) *string { return &c.Tier.Region }))},
		{Key: "tier_access_key", Flag: "tier-access-key", Env: "CAIRN_TIER_ACCESS_KEY", DefaultText: "none",
			Help:  "access key id for the tier's bucket",
			value: text("id", c(func(c *daemon.Config) *string { return &c.Tier.AccessKey }))},
		{Key: "tier_secret_key", Flag: "tier-secret-key", Env: "CAIRN_TIER_SECRET_KEY", Secret: true,
			Help:  "secret of tier_access_key",
			value: text("secret", c(func(c *daemon.Config) *string { return &c.Tier.SecretKey }))},
		{Key: "tier_after", Flag: "tier-after", Env: "CAIRN_TIER_AFTER", Default: formatDuration(daemon.DefaultTierAfter),
			Help:  "how long a chunk goes unread on a node before it moves to the cold tier and that node drops its copy",
			value: duration(func(o *options) *time.Duration { return &o.cfg.TierAfter })},
		{Key: "tier_interval", Flag: "tier-interval", Env: "CAIRN_TIER_INTERVAL", Default: formatDuration(daemon.DefaultTierInterval),
			Help:  "time between passes of the cold tier; negative: none but those asked for",
			value: duration(func(o *options) *time.Duration { return &o.cfg.TierInterval })},
		{Key: "memory_limit", Flag: "memory-limit", Env: "CAIRN_MEMORY_LIMIT", Default: formatBytes(daemon.DefaultMemoryLimit),
			Help:  "memory budget of the process: Go's soft limit; the chunk cache and the uploads stored at once are sized from it, and free heap goes back to the system when requests stop; negative: no budget",
			value: size(func(o *options) *int64 { return &o.cfg.MemoryLimit })},
		{Key: "min_free_space", Flag: "min-free-space", Env: "CAIRN_MIN_FREE_SPACE", Default: formatBytes(daemon.DefaultMinFreeSpace),
			Help:  "disk space writes leave free on the data disk (507 below it); negative: no check",
			value: size(func(o *options) *int64 { return &o.cfg.MinFreeSpace })},
		{Key: "compress_when_busy", Flag: "compress-when-busy", Env: "CAIRN_COMPRESS_WHEN_BUSY", Default: "false",
			Help:  "compress new chunks (S2) even while every core is busy; by default they are then written raw and compressed later by the compactor: set it where the disk, not the CPU, is the limit",
			value: boolean(func(o *options) *bool { return &o.cfg.CompressWhenBusy })},
		{Key: "repair_interval", Flag: "repair-interval", Env: "CAIRN_REPAIR_INTERVAL", Default: formatDuration(daemon.DefaultRepairInterval),
			Help:  "how often the node looks for chunks it lacks",
			value: duration(func(o *options) *time.Duration { return &o.cfg.RepairInterval })},
		{Key: "repair_rate", Flag: "repair-rate", Env: "CAIRN_REPAIR_RATE", Default: formatBytes(daemon.DefaultRepairRate),
			Help:  "bytes a second (before compression) repair may fetch",
			value: size(func(o *options) *int64 { return &o.cfg.RepairRate })},
		{Key: "raft_max_batch", Flag: "raft-max-batch", Env: "CAIRN_RAFT_MAX_BATCH", Default: strconv.Itoa(daemon.DefaultRaftMaxBatch),
			Help:  "most entries concurrent writes share in one synced write of the Raft log, one append to a follower and one state transaction; 1 turns the sharing off (for measurements)",
			value: integer(func(o *options) *int { return &o.cfg.RaftMaxBatch })},
		{Key: "shutdown_timeout", Flag: "shutdown-timeout", Env: "CAIRN_SHUTDOWN_TIMEOUT", Default: formatDuration(daemon.DefaultShutdown),
			Help:  "how long a stopping node lets requests in flight finish",
			value: duration(func(o *options) *time.Duration { return &o.cfg.ShutdownTimeout })},
		{Key: "log_level", Flag: "log-level", Env: "CAIRN_LOG_LEVEL", Default: "info",
			Help:  "least severe log messages written: debug, info, warn or error",
			value: field[slog.Level]{"level", parseLevel, func(o *options) *slog.Level { return &o.logLevel }}},
	}
}
