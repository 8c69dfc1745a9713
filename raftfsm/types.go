package raftfsm

import "cairn/cas"

// Bucket is a namespace of keys.
type Bucket struct {
	Name    string `json:"name"`
	Created int64  `json:"created"`
	Objects int64  `json:"objects"`
	Bytes   int64  `json:"bytes"` // logical bytes of its objects
}

// Object is what a key points to.
type Object struct {
	Bucket   string     `json:"bucket"`
	Key      string     `json:"key"`
	Digest   cas.Digest `json:"digest"`
	Size     int64      `json:"size"`
	Meta     ObjectMeta `json:"meta"`
	MTime    int64      `json:"mtime"` // unix nanoseconds, from the command
	Index    uint64     `json:"index"` // Raft index of the write
	UploadID string     `json:"upload_id,omitempty"`
}

// FileRecord is a distinct file content: its recipe and how many objects
// and upload parts point to it.
type FileRecord struct {
	Digest cas.Digest `json:"digest"`
	Size   int64      `json:"size"`
	Refs   int64      `json:"refs"`
	Recipe cas.Recipe `json:"-"`
}

// Ref is a named, mutable pointer: a tag such as "production", or a backup
// checkpoint.
type Ref struct {
	Name    string `json:"name"`
	Target  string `json:"target"`
	Version uint64 `json:"version"` // Raft index of the last write
	Time    int64  `json:"time"`
}

// Run is an MLflow run whose artifacts cairn holds, recognised from the
// key layout <root>/<experiment_id>/<run_id>/artifacts/<path>.
type Run struct {
	RunID        string `json:"run_id"`
	ExperimentID string `json:"experiment_id"`
	Bucket       string `json:"bucket"`
	// Root is the key prefix of the run's artifacts, ending in
	// "artifacts/": runs:/<run_id>/<path> resolves to Root+path.
	Root  string `json:"root"`
	Files int64  `json:"files"`
	Bytes int64  `json:"bytes"`
	First int64  `json:"first"` // mtime of the first artifact seen
	Last  int64  `json:"last"`
	// Kind is "run", or "model" for an MLflow 3 logged model stored under
	// <root>/<experiment_id>/models/<model_id>/artifacts/.
	Kind string `json:"kind"`
}

// ModelEntry is an indexed MLmodel file.
type ModelEntry struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"` // of the MLmodel file
	// Dir is the key prefix of the model's folder (Key without "MLmodel").
	Dir          string `json:"dir"`
	RunID        string `json:"run_id,omitempty"` // from the layout when the file has none
	ExperimentID string `json:"experiment_id,omitempty"`
	MTime        int64  `json:"mtime"`
	Model        Model  `json:"model"`
}

// Stats count the whole namespace.
type Stats struct {
	Buckets int64 `json:"buckets"`
	Objects int64 `json:"objects"`
	// LogicalBytes is the sum of the sizes of all objects: what a plain
	// store would hold.
	LogicalBytes int64 `json:"logical_bytes"`
	// Files and FileBytes count distinct contents.
	Files     int64 `json:"files"`
	FileBytes int64 `json:"file_bytes"`
	// Chunks and ChunkBytes count distinct chunks that some file needs:
	// what every node must hold, before compression.
	Chunks     int64 `json:"chunks"`
	ChunkBytes int64 `json:"chunk_bytes"`
	Uploads    int64 `json:"uploads"`
}

// ChunkRef is the reference count of a chunk.
type ChunkRef struct {
	Digest cas.Digest `json:"digest"`
	Size   int64      `json:"size"`
	Refs   int64      `json:"refs"`
}
