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
