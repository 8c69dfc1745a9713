package scale

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cairn/client"
)

// Credentials of the admin key every node seeds.
const (
	accessKey = "bench"
	secretKey = "bench-secret"
	token     = accessKey + ":" + secretKey
)

// node is one `cairn serve` process.
type node struct {
	id, dir            string
	httpAddr, raftAddr string
	args               []string
	cmd                *exec.Cmd
	exited             chan struct{}
	c                  *client.Client
}

func (n *node) url() string { return "http://" + n.httpAddr }

// cluster is the nodes of one measurement, started from bin in work.
type cluster struct {
	bin, work string
	extra     []string // flags every node gets
	nodes     []*node
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// newNode prepares a node's folder and addresses; start runs it.
func (c *cluster) newNode(id string, role ...string) (*node, error) {
	n := &node{id: id, dir: filepath.Join(c.work, id)}
	var err error
	if n.httpAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	if n.raftAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return nil, err
	}
	n.args = append([]string{"serve", "--node-id", id, "--data-dir", filepath.Join(n.dir, "data"),
		"--http-addr", n.httpAddr, "--raft-addr", n.raftAddr, "--cluster-secret", "scale-bench-cluster-secret-0123456789",
		"--s3-access-key", accessKey, "--s3-secret-key", secretKey, "--log-level", "warn",
		"--gc-interval", "-1s", "--gc-full-interval", "-1s"}, c.extra...)
	n.args = append(n.args, role...)
	if n.c, err = client.New(client.Config{Endpoints: []string{n.url()}, Token: token}); err != nil {
		return nil, err
	}
	return n, nil
}

// start runs the node's process; its log goes to <id>.log beside its data.
func (c *cluster) start(n *node) error {
	logf, err := os.OpenFile(filepath.Join(n.dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.cmd = exec.Command(c.bin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.id, err)
	}
	n.exited = make(chan struct{})
	go func() { n.cmd.Wait(); logf.Close(); close(n.exited) }()
	return nil
}

// stop ends a node with SIGTERM (SIGKILL after a minute) and waits.
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.exited:
	case <-time.After(time.Minute):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// startCluster starts three voters that bootstrap one cluster and waits
// until each is ready and the bucket exists.
func startCluster(ctx context.Context, bin, work string, extra []string, bucket string) (*cluster, error) {
	c := &cluster{bin: bin, work: work, extra: extra}
	var peers []string
	for i := 1; i <= 3; i++ {
		n, err := c.newNode("n" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
		peers = append(peers, n.id+"="+n.raftAddr)
	}
	for _, n := range c.nodes {
		n.args = append(n.args, "--bootstrap", strings.Join(peers, ","))
		if err := c.start(n); err != nil {
			c.stop()
			return nil, err
		}
	}
	for _, n := range c.nodes {
		if err := waitReady(ctx, n, 60*time.Second); err != nil {
			c.stop()
			return nil, err
		}
	}
	if _, err := c.nodes[0].c.CreateBucket(ctx, bucket, client.BucketOptions{IfNotExists: true}); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

// leader returns the node that leads now.
func (c *cluster) leader(ctx context.Context) (*node, error) {
	for _, n := range c.nodes {
		st, err := n.c.Admin().ClusterStatus(ctx)
		if err != nil {
			continue
		}
		for _, m := range c.nodes {
			if m.id == st.Leader {
				return m, nil
			}
		}
	}
	return nil, errors.New("no node knows a leader")
}

// follower returns a node that does not lead.
func (c *cluster) follower(ctx context.Context) (*node, error) {
	l, err := c.leader(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range c.nodes {
		if n != l {
			return n, nil
		}
	}
	return nil, errors.New("no follower")
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, n *node, limit time.Duration) error {
	return poll(ctx, limit, 20*time.Millisecond, func() (bool, error) {
		select {
		case <-n.exited:
			return false, fmt.Errorf("%s exited; see %s", n.id, filepath.Join(n.dir, "serve.log"))
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url()+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// poll calls cond every interval until it is true, fails, or limit passes.
func poll(ctx context.Context, limit, every time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("waited %s: %w", limit, ctx.Err())
		}
	}
}

// status returns what the leader says of node id.
func (c *cluster) status(ctx context.Context, id string) (client.NodeStatus, bool) {
	l, err := c.leader(ctx)
	if err != nil {
		return client.NodeStatus{}, false
	}
	st, err := l.c.Admin().ClusterStatus(ctx)
	if err != nil {
		return client.NodeStatus{}, false
	}
	for _, s := range st.Nodes {
		if s.ID == id {
			return s, true
		}
	}
	return client.NodeStatus{}, false
}

// buildCairn builds ./cmd/cairn of the module that holds the working
// folder into dir.
func buildCairn(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside cairn's module, or give -cairn-bin")
	}
	bin := filepath.Join(dir, "cairn")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/cairn")
	cmd.Dir = filepath.Dir(mod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build cairn: %v: %s", err, b)
	}
	return bin, nil
}
