package raftfsm

import "strings"

// Layout is where a key sits in MLflow's artifact layouts.
type Layout struct {
	Kind         string // "run" or "model"
	ID           string // run_id, or model_id (m-<32 hex>)
	ExperimentID string
	Root         string // key prefix up to and including "artifacts/"
	Path         string // the artifact path below Root
}

// ParseLayout recognises the two layouts MLflow writes artifacts in,
// under any root prefix:
//
//	<root>/<experiment_id>/<run_id>/artifacts/<path>
//	<root>/<experiment_id>/models/<model_id>/artifacts/<path>
//
// A run_id is 32 lowercase hex digits; a model_id is "m-" and 32 hex
// digits. The first matching position from the left wins.
func ParseLayout(key string) (Layout, bool) {
	segs := strings.Split(key, "/")
	for i := 1; i+2 < len(segs); i++ {
		if segs[i+1] != "artifacts" || segs[i-1] == "" {
			continue
		}
		root := strings.Join(segs[:i+2], "/") + "/"
		path := strings.Join(segs[i+2:], "/")
		if path == "" {
			continue
		}
		switch {
		case isRunID(segs[i]):
			return Layout{Kind: "run", ID: segs[i], ExperimentID: segs[i-1], Root: root, Path: path}, true
		case IsModelID(segs[i]) && segs[i-1] == "models" && i >= 2 && segs[i-2] != "":
			return Layout{Kind: "model", ID: segs[i], ExperimentID: segs[i-2], Root: root, Path: path}, true
		}
	}
	return Layout{}, false
}

func isRunID(s string) bool { return len(s) == 32 && isHex(s) }

// IsModelID reports whether s has the form of an MLflow 3 model id.
func IsModelID(s string) bool {
	return len(s) == 34 && strings.HasPrefix(s, "m-") && isHex(s[2:])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// envFiles are the environment files MLflow writes beside an MLmodel.
var envFiles = []string{"conda.yaml", "python_env.yaml", "requirements.txt"}

func isEnvFile(name string) bool {
	for _, f := range envFiles {
		if f == name {
			return true
		}
	}
	return false
}

// splitDir splits a key into its folder prefix (ending in "/", or empty)
// and its base name.
func splitDir(key string) (dir, base string) {
	i := strings.LastIndexByte(key, '/')
	return key[:i+1], key[i+1:]
}
