package daemon

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The register model for porcupine: each key holds a value or nothing.
const (
	opGet = iota
	opPut
	opDel
)

type regInput struct {
	op         int
	key, value string
}

type regOutput struct {
	value string // "" for absent
}

var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(regInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, st := input.(regInput), state.(string)
		switch in.op {
		case opGet:
			return output.(regOutput).value == st, st
		case opPut:
			return true, in.value
		default:
			return true, ""
		}
	},
	Equal:         func(a, b any) bool { return a == b },
	DescribeState: func(s any) string { return fmt.Sprintf("%q", s) },
}

// TestCluster_Linearizable runs puts, consistent gets and deletes on a
// few keys through every node while the leader is stopped and another
// node is cut off, then checks the history with porcupine. A write that
// failed may or may not have happened: it is recorded as open until the
// end of time.
func TestCluster_Linearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := newTestCluster(t, 3)
	mkBucket(t, c.nodes[c.leader()], "lin")
	keys := []string{"a", "b", "c"}
	var mu sync.Mutex
	var history []porcupine.Operation
	var nodesMu sync.Mutex
	targets := c.running()
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for client := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(client), 7))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				nodesMu.Lock()
				srv := targets[rng.IntN(len(targets))]
				nodesMu.Unlock()
				in := regInput{op: rng.IntN(3), key: keys[rng.IntN(len(keys))]}
				if in.op == opPut {
					in.value = fmt.Sprintf("c%d-%d", client, n)
				}
				call := now()
				out, ok := linOp(srv, in)
				ret := now()
				if !ok {
					if in.op == opGet {
						continue // a failed read constrains nothing
					}
					ret = math.MaxInt64 // maybe applied, at any time from now on
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		})
	}
	pause := func(d time.Duration) { time.Sleep(d) } // the nemesis' schedule, not synchronisation
	pause(1500 * time.Millisecond)
	old := c.leader()
	nodesMu.Lock()
	targets = nil
	for i, n := range c.nodes {
		if i != old {
			targets = append(targets, n)
		}
	}
	nodesMu.Unlock()
	c.stop(old)
	pause(1500 * time.Millisecond)
	cut := c.follower()
	c.net.isolate(c.cfgs[cut].RaftAddr)
	pause(1500 * time.Millisecond)
	c.net.heal()
	pause(1000 * time.Millisecond)
	close(stop)
	wg.Wait()
	c.restart(old)
	res := porcupine.CheckOperationsTimeout(registerModel, history, 60*time.Second)
	okOps := 0
	for _, op := range history {
		if op.Return != math.MaxInt64 {
			okOps++
		}
	}
	t.Logf("%d operations (%d completed), result %v", len(history), okOps, res)
	if res != porcupine.Ok {
		t.Fatalf("history of %d operations is not linearizable: %v", len(history), res)
	}
	if okOps < 50 {
		t.Fatalf("only %d operations completed: the test checked too little", okOps)
	}
}

// linOp performs one operation; ok is false when its outcome is unknown
// (or, for a read, when it failed).
func linOp(srv *Server, in regInput) (regOutput, bool) {
	u := objURL(srv, "lin", in.key)
	var req *http.Request
	switch in.op {
	case opGet:
		req, _ = http.NewRequest(http.MethodGet, u+"?consistent=true", nil)
	case opPut:
		req, _ = http.NewRequest(http.MethodPut, u, strings.NewReader(in.value))
	default:
		req, _ = http.NewRequest(http.MethodDelete, u, nil)
	}
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return regOutput{}, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == 200 && in.op == opGet:
		return regOutput{value: string(b)}, true
	case resp.StatusCode == 404 && in.op == opGet:
		return regOutput{}, true
	case resp.StatusCode == 200:
		return regOutput{}, true
	}
	return regOutput{}, false
}
