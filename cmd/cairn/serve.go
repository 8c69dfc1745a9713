package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"cairn/daemon"

	"gopkg.in/yaml.v3"
)

// fileConfig is the optional YAML configuration file; flags override it.
type fileConfig struct {
	DataDir         string         `yaml:"data_dir"`
	HTTPAddr        string         `yaml:"http_addr"`
	RaftAddr        string         `yaml:"raft_addr"`
	NodeID          string         `yaml:"node_id"`
	Bootstrap       string         `yaml:"bootstrap"`
	Join            string         `yaml:"join"`
	ClusterSecret   string         `yaml:"cluster_secret"`
	Token           string         `yaml:"token"`
	S3Keys          []daemon.S3Key `yaml:"s3_keys"`
	S3Region        string         `yaml:"s3_region"`
	S3Domain        string         `yaml:"s3_domain"`
	MLflowBucket    string         `yaml:"mlflow_bucket"`
	MLflowUsername  string         `yaml:"mlflow_username"`
	MLflowPassword  string         `yaml:"mlflow_password"`
	ConsistentReads bool           `yaml:"consistent_reads"`
	Anonymous       string         `yaml:"insecure_anonymous"`
	MetricsOpen     bool           `yaml:"metrics_open"`
	TLSCert         string         `yaml:"tls_cert"`
	TLSKey          string         `yaml:"tls_key"`
	MaxObjectSize   int64          `yaml:"max_object_size"`
	MaxUploads      int            `yaml:"max_uploads"`
	BodyTimeout     time.Duration  `yaml:"body_timeout"`
	MaxRestoreSize  int64          `yaml:"max_restore_size"`
	GCInterval      time.Duration  `yaml:"gc_interval"`
	GCGrace         time.Duration  `yaml:"gc_grace"`
	UploadExpiry    time.Duration  `yaml:"upload_expiry"`
	MinFreeSpace    int64          `yaml:"min_free_space"` // bytes
	RepairInterval  time.Duration  `yaml:"repair_interval"`
	RepairRate      int64          `yaml:"repair_rate"` // bytes a second
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	configPath := fs.String("config", env("CAIRN_CONFIG", ""), "YAML configuration file (flags override it)")
	dataDir := fs.String("data-dir", env("CAIRN_DATA_DIR", ""), "data folder (default ./"+daemon.DefaultDataDir+")")
	httpAddr := fs.String("http-addr", env("CAIRN_HTTP_ADDR", ""), "HTTP listen address (default "+daemon.DefaultHTTPAddr+")")
	raftAddr := fs.String("raft-addr", env("CAIRN_RAFT_ADDR", ""), "cluster (Raft and peer) address (default "+daemon.DefaultRaftAddr+")")
	nodeID := fs.String("node-id", env("CAIRN_NODE_ID", ""), "this node's ID (default node1)")
	bootstrap := fs.String("bootstrap", env("CAIRN_BOOTSTRAP", ""), "initial voters of a new cluster: id=raftaddr,id=raftaddr,...")
	join := fs.String("join", env("CAIRN_JOIN", ""), "cluster address (host:port) of a member to join on first start")
	secret := fs.String("cluster-secret", env("CAIRN_CLUSTER_SECRET", ""), "secret every node of the cluster shares: it authenticates connections between nodes and seals access keys (a node alone generates one)")
	clusterCert := fs.String("cluster-tls-cert", env("CAIRN_CLUSTER_TLS_CERT", ""), "PEM certificate the cluster port serves (enables TLS between nodes)")
	clusterKey := fs.String("cluster-tls-key", env("CAIRN_CLUSTER_TLS_KEY", ""), "PEM key of --cluster-tls-cert")
	clusterCA := fs.String("cluster-tls-ca", env("CAIRN_CLUSTER_TLS_CA", ""), "PEM CA bundle peers' certificates are checked against")
	token := fs.String("token", env("CAIRN_TOKEN", ""), "a bearer token with the admin role, besides the access keys")
	ak := fs.String("s3-access-key", env("CAIRN_S3_ACCESS_KEY", ""), "id of an admin access key to seed (default: the first start creates one)")
	sk := fs.String("s3-secret-key", env("CAIRN_S3_SECRET_KEY", ""), "secret of the admin access key to seed")
	anonymous := fs.String("insecure-anonymous", env("CAIRN_INSECURE_ANONYMOUS", ""), "let requests without credentials read (read) or do anything (all): for a laptop only")
	metricsOpen := fs.Bool("metrics-open", env("CAIRN_METRICS_OPEN", "") == "true", "serve /metrics without credentials to any client (always open to loopback)")
	tlsCert := fs.String("tls-cert", env("CAIRN_TLS_CERT", ""), "PEM certificate of the HTTP port (serves HTTPS; reloaded on SIGHUP)")
	tlsKey := fs.String("tls-key", env("CAIRN_TLS_KEY", ""), "PEM key of --tls-cert")
	region := fs.String("s3-region", env("CAIRN_S3_REGION", ""), "region S3 signatures must name (default: any)")
	domain := fs.String("s3-domain", env("CAIRN_S3_DOMAIN", ""), "domain for virtual-host-style S3 requests")
	bucket := fs.String("mlflow-bucket", env("CAIRN_MLFLOW_BUCKET", ""), "bucket for MLflow's artifact API (default "+daemon.DefaultMLflowBucket+")")
	consistent := fs.Bool("consistent-reads", env("CAIRN_CONSISTENT_READS", "") == "true", "S3 and MLflow reads confirm they see every committed write")
	logLevel := fs.String("log-level", env("CAIRN_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var fc fileConfig
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil {
			return fmt.Errorf("config %s: %w", *configPath, err)
		}
	}
	pick := func(flagVal, fileVal string) string {
		if flagVal != "" {
			return flagVal
		}
		return fileVal
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := daemon.Config{
		DataDir: pick(*dataDir, fc.DataDir), HTTPAddr: pick(*httpAddr, fc.HTTPAddr), RaftAddr: pick(*raftAddr, fc.RaftAddr),
		NodeID: pick(*nodeID, fc.NodeID), Join: pick(*join, fc.Join), ClusterSecret: pick(*secret, fc.ClusterSecret),
		Token: pick(*token, fc.Token), S3Keys: fc.S3Keys, S3Region: pick(*region, fc.S3Region), S3Domain: pick(*domain, fc.S3Domain),
		MLflowBucket: pick(*bucket, fc.MLflowBucket), MLflowUsername: fc.MLflowUsername, MLflowPassword: fc.MLflowPassword,
		ConsistentReads: *consistent || fc.ConsistentReads, GCInterval: fc.GCInterval, GCGrace: fc.GCGrace, Logger: log,
		RepairInterval: fc.RepairInterval, RepairRate: fc.RepairRate, UploadExpiry: fc.UploadExpiry,
		MinFreeSpace: fc.MinFreeSpace,
		Anonymous:    pick(*anonymous, fc.Anonymous), MetricsOpen: *metricsOpen || fc.MetricsOpen,
		TLSCert: pick(*tlsCert, fc.TLSCert), TLSKey: pick(*tlsKey, fc.TLSKey),
		MaxObjectSize: fc.MaxObjectSize, MaxUploads: fc.MaxUploads, BodyTimeout: fc.BodyTimeout, MaxRestoreSize: fc.MaxRestoreSize,
		OnFirstKey: printFirstKey, Version: version,
	}
	if *ak != "" || *sk != "" {
		cfg.S3Keys = append([]daemon.S3Key{{AccessKey: *ak, SecretKey: *sk}}, cfg.S3Keys...)
	}
	if b := pick(*bootstrap, fc.Bootstrap); b != "" {
		peers, err := daemon.ParsePeers(b)
		if err != nil {
			return err
		}
		cfg.Bootstrap = peers
	}
	if *clusterCert != "" || *clusterKey != "" || *clusterCA != "" {
		tc, err := daemon.LoadClusterTLS(*clusterCert, *clusterKey, *clusterCA)
		if err != nil {
			return err
		}
		cfg.ClusterTLS = tc
	}
	privateFiles()
	var err error
	if cfg.HTTPListener, cfg.ClusterListener, err = inheritedListeners(); err != nil {
		return err
	}
	srv, err := daemon.New(cfg)
	if err != nil {
		return err
	}
	printWelcome(srv, cfg)
	go reloadOnHangup(ctx, srv, log)
	return srv.Serve(ctx)
}

// reloadOnHangup reads the HTTP port's certificate again on every SIGHUP.
func reloadOnHangup(ctx context.Context, srv *daemon.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if err := srv.ReloadTLS(); err != nil {
				log.Error("reload TLS certificate", "err", err)
			} else {
				log.Info("TLS certificate reloaded")
			}
		case <-ctx.Done():
			return
		}
	}
}

// printFirstKey shows the admin key a new cluster made: the one time its
// secret is printed.
func printFirstKey(id, secret, path string) {
	kept := "it was not written anywhere: keep it now"
	if path != "" {
		kept = "it is kept, readable by this user only, in " + path
	}
	fmt.Fprintf(os.Stderr, `
cairn created the cluster's first admin key; %s.
  access key:  %s
  secret key:  %s
  token:       export CAIRN_TOKEN=%s:%s
This is the only time cairn prints the secret. Make keys for people and
jobs with: cairn key create --role write (or read, or admin).
`, kept, id, secret, id, secret)
}

// printWelcome tells a new user where cairn listens and how to point
// MLflow and S3 tools at it; it never prints a secret.
func printWelcome(srv *daemon.Server, cfg daemon.Config) {
	u := srv.URL()
	fmt.Fprintf(os.Stderr, `cairn listening on %s
  native API and CLI:  export CAIRN_ENDPOINT=%s CAIRN_TOKEN=<access key>:<secret>
  MLflow (proxied):    artifact location %s/api/2.0/mlflow-artifacts/artifacts/<root>
                       with MLFLOW_TRACKING_USERNAME=<access key> MLFLOW_TRACKING_PASSWORD=<secret>
  MLflow (S3):         MLFLOW_S3_ENDPOINT_URL=%s AWS_ACCESS_KEY_ID=<access key> AWS_SECRET_ACCESS_KEY=<secret>
                       artifact location s3://<bucket>/<root>
`, u, u, u, u)
	switch cfg.Anonymous {
	case "read":
		fmt.Fprintln(os.Stderr, "WARNING: anyone who reaches this port can READ every object without credentials (--insecure-anonymous read).")
	case "all":
		fmt.Fprintln(os.Stderr, "WARNING: anyone who reaches this port can READ, WRITE, DELETE and ADMINISTER everything without credentials (--insecure-anonymous all).")
	}
}
