package load

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"cairn/daemon"
)

// Options configure a benchmark run.
type Options struct {
	Spec    Spec
	Targets []string // see ParseTarget
	Rounds  int      // rounds per phase, alternating targets
	// Clients is how many concurrent clients log runs; CommitClients and
	// Commits shape the small-object phase; Scale lists namespace sizes
	// for the scale phase (empty: skip it).
	Clients       int
	CommitClients int
	Commits       int
	CommitSize    int
	Scale         []int
	Sample        int // runs downloaded per round
	// Ingest is how many boosters the ingest phases PUT, new and then
	// again (0: skip them).
	Ingest int
	// CairnBin, when set, runs cairn targets as separate `cairn serve`
	// processes (so their peak RSS is theirs alone); otherwise they run in
	// this process.
	CairnBin string
	WorkDir  string
	Progress io.Writer // nil: quiet
	Logger   *slog.Logger
}

// QuickOptions finish in well under a minute: for CI.
func QuickOptions() Options {
	return Options{Spec: QuickSpec(), Targets: []string{"cairn-client", "dir"}, Rounds: 2, Clients: 2,
		CommitClients: 8, Commits: 200, CommitSize: 4 << 10, Scale: []int{1000}, Sample: 3, Ingest: 4}
}

// FullOptions are the published figures' settings.
func FullOptions() Options {
	return Options{Spec: DefaultSpec(), Targets: []string{"cairn-client", "cairn-s3", "dir"}, Rounds: 3, Clients: 4,
		CommitClients: 16, Commits: 4000, CommitSize: 4 << 10, Scale: []int{1000, 10000, 100000}, Sample: 10, Ingest: 24}
}

// instance is a started target with what it needs to stop.
type instance struct {
	Target
	pid  int // of the cairn serve process behind it, 0 if none or in-process
	stop func()
}

// startTarget starts a target by spec:
//
//	cairn-client          a new local cairn node, logged to through the Go client
//	cairn-s3              a new local cairn node, logged to through S3
//	cairn-client=URL      an existing node, through the Go client
//	s3=URL,KEY,SECRET[,DATADIR]  any S3 endpoint
//	dir[=PATH]            a plain folder
func (o *Options) startTarget(ctx context.Context, spec string) (*instance, error) {
	kind, arg, _ := strings.Cut(spec, "=")
	switch kind {
	case "dir":
		stop := func() {}
		if arg == "" {
			// A fresh folder each round, as every other target gets a
			// fresh instance: what earlier rounds wrote must not count.
			d, err := os.MkdirTemp(o.WorkDir, "dir-target-")
			if err != nil {
				return nil, err
			}
			arg, stop = d, func() { os.RemoveAll(d) }
		}
		t, err := NewDir(arg)
		return &instance{Target: t, stop: stop}, err
	case "cairn-client", "cairn-s3":
		// A node of the caller's (cairn-client=URL) takes the access key
		// of the environment: CAIRN_TOKEN for the client, AWS_ACCESS_KEY_ID
		// and AWS_SECRET_ACCESS_KEY for S3.
		url, dataDir, pid, stop := arg, "", 0, func() {}
		keys := daemon.S3Key{AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
		if id, secret, ok := strings.Cut(os.Getenv("CAIRN_TOKEN"), ":"); ok && keys.AccessKey == "" {
			keys = daemon.S3Key{AccessKey: id, SecretKey: secret}
		}
		if url == "" {
			n, err := o.startNode(ctx, kind)
			if err != nil {
				return nil, err
			}
			url, dataDir, keys, pid, stop = n.url, n.dataDir, n.key, n.pid, n.stop
		}
		var t Target
		var err error
		token := ""
		if keys.AccessKey != "" {
			token = keys.AccessKey + ":" + keys.SecretKey
		}
		if kind == "cairn-client" {
			t, err = NewCairnClient(ctx, url, token, "mlflow", dataDir)
		} else {
			t, err = NewS3(ctx, S3Options{Name: "cairn-s3", Endpoint: url, AccessKey: keys.AccessKey, SecretKey: keys.SecretKey,
				Bucket: "mlflow", DataDir: dataDir, CairnStats: url, CairnToken: token})
		}
		if err != nil {
			stop()
			return nil, err
		}
		return &instance{Target: t, pid: pid, stop: stop}, nil
	case "s3":
		f := strings.Split(arg, ",")
		if len(f) < 3 {
			return nil, fmt.Errorf("target %q: want s3=URL,ACCESS_KEY,SECRET_KEY[,DATADIR]", spec)
		}
		so := S3Options{Endpoint: f[0], AccessKey: f[1], SecretKey: f[2], Bucket: "cairn-bench"}
		if len(f) > 3 {
			so.DataDir = f[3]
		}
		t, err := NewS3(ctx, so)
		return &instance{Target: t, stop: func() {}}, err
	}
	return nil, fmt.Errorf("unknown target %q", spec)
}

type node struct {
	url, dataDir string
	key          daemon.S3Key
	pid          int
	stop         func()
}

// startNode starts a fresh single cairn node for one target.
func (o *Options) startNode(ctx context.Context, name string) (*node, error) {
	dir, err := os.MkdirTemp(o.WorkDir, name+"-")
	if err != nil {
		return nil, err
	}
	key := daemon.S3Key{AccessKey: "bench", SecretKey: "bench-secret"}
	if o.CairnBin != "" {
		httpAddr, raftAddr := freeAddr(), freeAddr()
		cmd := exec.Command(o.CairnBin, "serve", "--data-dir", dir, "--http-addr", httpAddr, "--raft-addr", raftAddr,
			"--s3-access-key", key.AccessKey, "--s3-secret-key", key.SecretKey, "--log-level", "warn")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		n := &node{url: "http://" + httpAddr, dataDir: dir, key: key, pid: cmd.Process.Pid,
			stop: func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }}
		if err := waitReady(ctx, n.url); err != nil {
			n.stop()
			return nil, err
		}
		return n, nil
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := daemon.New(daemon.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		S3Keys: []daemon.S3Key{key}, GCInterval: -1, Logger: log,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(sctx); close(done) }()
	n := &node{url: srv.URL(), dataDir: dir, key: key, pid: os.Getpid(), stop: func() { cancel(); <-done }}
	if err := waitReady(ctx, n.url); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}
