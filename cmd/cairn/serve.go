package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"cairn/daemon"
)

// serve runs cairn serve with args; help goes to stdout.
func serve(ctx context.Context, args []string, stdout io.Writer) error {
	table := settings()
	o, err := load(table, args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		serveHelp(stdout, table)
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	cfg.OnFirstKey, cfg.Version = printFirstKey, version
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	privateFiles()
	if cfg.HTTPListener, cfg.ClusterListener, err = inheritedListeners(); err != nil {
		return err
	}
	if o.from["token"] == "env" {
		cfg.Logger.Warn("CAIRN_TOKEN is set: cairn serve takes it as a bearer token with the admin role (for the CLI it is your access key); unset it before starting a node unless that is meant")
	}
	srv, err := daemon.New(cfg)
	if err != nil {
		return o.explain(table, err)
	}
	printWelcome(srv, cfg)
	go reloadOnHangup(ctx, srv, cfg.Logger)
	return srv.Serve(ctx)
}

// config turns the settings into the daemon's configuration.
func (o *options) config() (daemon.Config, error) {
	cfg := o.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.logLevel}))
	if k := o.seedKey; k.AccessKey != "" || k.SecretKey != "" {
		if k.AccessKey == "" || k.SecretKey == "" {
			return cfg, errors.New("give both s3_access_key and s3_secret_key, or neither")
		}
		cfg.S3Keys = append([]daemon.S3Key{k}, cfg.S3Keys...)
	}
	if t := o.clusterTLS; t.cert != "" || t.key != "" || t.ca != "" {
		tc, err := daemon.LoadClusterTLS(t.cert, t.key, t.ca)
		if err != nil {
			return cfg, err
		}
		cfg.ClusterTLS = tc
	}
	return cfg, nil
}

// explain adds to a port the node could not listen on which setting
// chooses it.
func (o *options) explain(table []setting, err error) error {
	var le *daemon.ListenError
	if !errors.As(err, &le) {
		return err
	}
	name := map[string]string{"http": "http-addr", "cluster": "raft-addr"}[le.Port]
	for _, s := range table {
		if s.Flag != name {
			continue
		}
		how := ""
		if le.Port == "cluster" && o.from[s.Flag] == "" {
			how = " (by default the cluster port is the HTTP port + 1)"
		}
		return fmt.Errorf("%w; choose another %s port%s with --%s (%s, or %s in the config file)", err, le.Port, how, s.Flag, s.Env, s.Key)
	}
	return err
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
