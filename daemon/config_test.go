package daemon

import (
	"strings"
	"testing"
)

// TestConfig_Validate fills in the defaults of an empty configuration and
// refuses the ones that cannot work, each with a message naming why.
func TestConfig_Validate(t *testing.T) {
	var c Config
	if err := c.Validate(); err != nil {
		t.Fatalf("the embedded default: %v", err)
	}
	if c.RepairRate != DefaultRepairRate || c.CommitTimeout != DefaultCommitTimeout || c.RepairInterval != DefaultRepairInterval {
		t.Fatalf("defaults not filled in: rate %d, commit timeout %v, repair interval %v", c.RepairRate, c.CommitTimeout, c.RepairInterval)
	}
	peers := []Peer{{ID: "a", RaftAddr: "127.0.0.1:1"}, {ID: "b", RaftAddr: "127.0.0.1:2"}}
	cases := []struct {
		name string
		c    Config
		want string
	}{
		{"bootstrap and join", Config{NodeID: "a", Bootstrap: peers, Join: "127.0.0.1:3", ClusterSecret: "s"}, "not both"},
		{"bootstrap without this node", Config{NodeID: "c", Bootstrap: peers, ClusterSecret: "s"}, "do not include this node"},
		{"cluster without secret", Config{NodeID: "a", Bootstrap: peers}, "cluster secret"},
		{"join without secret", Config{Join: "127.0.0.1:3"}, "cluster secret"},
		{"negative repair rate", Config{RepairRate: -1}, "repair rate"},
		{"raft batch too large", Config{RaftMaxBatch: 1025}, "raft max batch"},
		{"negative raft batch", Config{RaftMaxBatch: -1}, "raft max batch"},
		{"bad http addr", Config{HTTPAddr: "nowhere"}, "http addr"},
		{"bad S3 key", Config{S3Keys: []S3Key{{AccessKey: "a b", SecretKey: "s"}}}, "invalid S3 key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestConfig_ClusterAddr: without a cluster address, a node takes the
// HTTP port's host and the next port, so that two nodes on one machine
// need only their own HTTP ports.
func TestConfig_ClusterAddr(t *testing.T) {
	for _, tc := range []struct{ http, raft, want, err string }{
		{"", "", "127.0.0.1:8701", ""},
		{"127.0.0.1:9700", "", "127.0.0.1:9701", ""},
		{":9700", "", ":9701", ""},
		{"[::1]:9700", "", "[::1]:9701", ""},
		{"127.0.0.1:0", "", "127.0.0.1:0", ""},
		{"127.0.0.1:9700", "10.0.0.1:8701", "10.0.0.1:8701", ""},
		{"127.0.0.1:65535", "", "", "no next port"},
		{"127.0.0.1:http", "", "", "no next port"},
	} {
		c := Config{HTTPAddr: tc.http, RaftAddr: tc.raft}
		err := c.Validate()
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("http %q: err = %v, want one saying %q", tc.http, err, tc.err)
		case tc.err == "" && (err != nil || c.RaftAddr != tc.want):
			t.Errorf("http %q, raft %q: got %q, %v; want %q", tc.http, tc.raft, c.RaftAddr, err, tc.want)
		}
	}
}

// TestParseJoin takes a member's cluster address as host:port or as a
// URL, and never builds http://http//host:port from one.
func TestParseJoin(t *testing.T) {
	good := map[string]string{
		"10.0.0.1:8701":          "10.0.0.1:8701",
		"http://10.0.0.1:8701":   "10.0.0.1:8701",
		"https://node-a:8701/":   "node-a:8701",
		"HTTP://[::1]:8701":      "[::1]:8701",
		" 127.0.0.1:8701 ":       "127.0.0.1:8701",
		"tcp://127.0.0.1:8701":   "127.0.0.1:8701",
		"http://127.0.0.1:8701/": "127.0.0.1:8701",
	}
	for in, want := range good {
		if got, err := ParseJoin(in); err != nil || got != want {
			t.Errorf("ParseJoin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"10.0.0.1", "http://10.0.0.1", "ftp://10.0.0.1:8701", "http://10.0.0.1:8701/v1/join", ":8701", "http://"} {
		if got, err := ParseJoin(in); err == nil {
			t.Errorf("ParseJoin(%q) = %q, want an error", in, got)
		}
	}
	c := Config{Join: "http://127.0.0.1:8701", ClusterSecret: "s"}
	if err := c.Validate(); err != nil || c.Join != "127.0.0.1:8701" {
		t.Fatalf("Validate left join %q, %v", c.Join, err)
	}
}
