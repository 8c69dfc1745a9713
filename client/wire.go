package client

import (
	"time"

	"cairn/cas/chunk"
)

// The JSON types of cairn's native API under /v1/. The daemon encodes
// them and the client decodes them; docs/api.md describes each route.

// Object describes a stored object.
type Object struct {
	Bucket string       `json:"bucket"`
	Key    string       `json:"key"`
	Digest chunk.Digest `json:"digest"` // BLAKE3-256 of the content
	Size   int64        `json:"size"`
	// ETag is the S3 ETag (the MD5 of the content, quoted). It is empty
	// in the answer to a commit (the Go client's Put) while the cluster
	// computes it after the acknowledgement, and in a stat or listing
	// that asked for it to be omitted; every other answer carries it.
	ETag               string            `json:"etag"`
	ContentType        string            `json:"content_type,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
	Meta               map[string]string `json:"meta,omitempty"`
	MTime              time.Time         `json:"mtime"`
	Version            uint64            `json:"version"` // Raft index of the write
}

// PutResult is the answer to an object PUT or a commit.
type PutResult struct {
	Object
	// NewBytes counts the bytes of chunks that were new to the node that
	// took the write; Chunks is how many chunks the file has.
	NewBytes int64 `json:"new_bytes"`
	Chunks   int   `json:"chunks"`
}

// Stat is an object with its recipe.
type Stat struct {
	Object
	Recipe []chunk.Ref `json:"recipe"`
}

// ListResult is a page of a bucket listing.
type ListResult struct {
	Objects        []Object `json:"objects"`
	CommonPrefixes []string `json:"common_prefixes,omitempty"`
	Truncated      bool     `json:"truncated"`
	// Next resumes the listing: pass it as start_after.
	Next string `json:"next,omitempty"`
}

// MissingRequest asks which chunks the cluster lacks.
type MissingRequest struct {
	Digests []chunk.Digest `json:"digests"`
}

// MissingResult lists the chunks to upload.
type MissingResult struct {
	Missing []chunk.Digest `json:"missing"`
}

// ChunkPutResult is the answer to a chunk upload.
type ChunkPutResult struct {
	Digest chunk.Digest `json:"digest"`
	Added  bool         `json:"added"`
}

// MaxFetchBatch is the most digests one POST /v1/chunks/fetch may ask for.
const MaxFetchBatch = 4096

// HeaderAcceptForms, on POST /v1/chunks/fetch, lists the stored forms
// (the chunk store's codec bytes, comma-separated) the client decodes
// beside raw: the node sends a chunk stored in one of them as it is,
// neither decoding nor verifying it, and the client does both. A node of
// an earlier release ignores it and sends every chunk raw.
const HeaderAcceptForms = "Cairn-Accept-Forms"

// HeaderTruncated, on the answer of POST /v1/chunks/fetch (and of a
// peer's POST /peer/fetch), says how many of the chunks asked for it
// holds when it stopped short of them all.
const HeaderTruncated = "Cairn-Truncated"

// ChunkBatchResult is the answer to a batch of chunks uploaded at once
// (POST /v1/chunks): how many of them the node did not hold before.
type ChunkBatchResult struct {
	Added int `json:"added"`
}

// CommitRequest makes a key point to a file whose chunks the cluster
// holds: the client chunked and hashed it and uploaded what was missing.
// With Stored set it names, by digest and size alone, a file the cluster
// already holds, and Chunks is empty; the node answers 404 NoSuchFile if
// it holds no such file.
type CommitRequest struct {
	Digest      chunk.Digest      `json:"digest"`
	Size        int64             `json:"size"`
	Chunks      []chunk.Ref       `json:"chunks"`
	Stored      bool              `json:"stored,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	IfMatch     string            `json:"if_match,omitempty"`
	IfNoneMatch string            `json:"if_none_match,omitempty"`
}

// CommitManyRequest commits several files to keys of one bucket in one
// Raft entry (POST /v1/commit/<bucket>): all of them or none.
type CommitManyRequest struct {
	Objects []CommitObject `json:"objects"`
}

// CommitObject is one file of a CommitManyRequest: its key and the
// fields of a CommitRequest.
type CommitObject struct {
	Key string `json:"key"`
	CommitRequest
}

// CommitManyResult is the answer to a CommitManyRequest: the objects, in
// the request's order.
type CommitManyResult struct {
	Objects []PutResult `json:"objects"`
}

// MaxCommitMany is the most files one CommitManyRequest may hold
// (raftfsm.MaxPutObjects); together they may hold at most MaxMissingBatch
// chunks.
const MaxCommitMany = 1000

// Bucket describes a bucket.
type Bucket struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Objects int64     `json:"objects"`
	Bytes   int64     `json:"bytes"`
}

// Resolved is what a runs:/ or models:/ URI, or a bucket/key, names.
type Resolved struct {
	URI    string `json:"uri"`
	Bucket string `json:"bucket"`
	// Key is the object key, or the key prefix (ending in "/") when the
	// URI names a folder.
	Key    string  `json:"key"`
	IsDir  bool    `json:"is_dir"`
	Object *Object `json:"object,omitempty"`
}

// Run is an MLflow run (or an MLflow 3 logged model) whose artifacts the
// store holds.
type Run struct {
	RunID        string    `json:"run_id"`
	ExperimentID string    `json:"experiment_id"`
	Bucket       string    `json:"bucket"`
	Root         string    `json:"root"` // key prefix of the artifacts
	Kind         string    `json:"kind"` // "run" or "model"
	Files        int64     `json:"files"`
	Bytes        int64     `json:"bytes"`
	First        time.Time `json:"first"`
	Last         time.Time `json:"last"`
}

// Artifact is a file in a run.
type Artifact struct {
	Path   string       `json:"path"` // relative to the run's artifact root
	Size   int64        `json:"size"`
	Digest chunk.Digest `json:"digest"`
}

// Model is an indexed MLmodel file.
type Model struct {
	Bucket        string                    `json:"bucket"`
	Key           string                    `json:"key"`
	Dir           string                    `json:"dir"`
	RunID         string                    `json:"run_id,omitempty"`
	ExperimentID  string                    `json:"experiment_id,omitempty"`
	ModelUUID     string                    `json:"model_uuid,omitempty"`
	ModelID       string                    `json:"model_id,omitempty"`
	ArtifactPath  string                    `json:"artifact_path,omitempty"`
	MLflowVersion string                    `json:"mlflow_version,omitempty"`
	Created       time.Time                 `json:"created"`
	Flavors       map[string]map[string]any `json:"flavors,omitempty"`
	Signature     map[string]string         `json:"signature,omitempty"`
	EnvFiles      map[string]chunk.Digest   `json:"env_files,omitempty"`
	Error         string                    `json:"error,omitempty"`
}

// Stats describe what the store holds and what deduplication saves.
type Stats struct {
	Objects int64 `json:"objects"`
	// LogicalBytes is what the objects add up to: what a plain store
	// would hold. UniqueBytes counts each distinct chunk they reference
	// once, before compression: the live content. StoredBytes is what
	// this node's chunk store takes, garbage included; GarbageBytes is
	// what its chunks that nothing references hold before compression,
	// which GC frees.
	LogicalBytes int64 `json:"logical_bytes"`
	UniqueBytes  int64 `json:"unique_bytes"`
	StoredBytes  int64 `json:"stored_bytes"`
	GarbageBytes int64 `json:"garbage_bytes"`
	// DedupRatio is LogicalBytes / UniqueBytes: what storing each chunk
	// once saves, before compression. CompressionRatio is what this node's
	// chunks take before compression per byte stored.
	DedupRatio       float64  `json:"dedup_ratio"`
	CompressionRatio float64  `json:"compression_ratio"`
	Files            int64    `json:"files"`
	Chunks           int64    `json:"chunks"`
	LocalChunks      int64    `json:"local_chunks"`
	Uploads          int64    `json:"uploads"`
	Buckets          []Bucket `json:"buckets"`
	Runs             []Run    `json:"runs,omitempty"`
	// Shared lists the files stored once but referenced most, with the
	// keys and runs that share them.
	Shared []SharedFile `json:"shared,omitempty"`
}

// SharedFile is one content referenced by several keys.
type SharedFile struct {
	Digest chunk.Digest `json:"digest"`
	Size   int64        `json:"size"`
	Refs   int64        `json:"refs"`
	Saved  int64        `json:"saved_bytes"` // (refs-1) * size
	Keys   []string     `json:"keys"`        // bucket/key
	Runs   []string     `json:"runs,omitempty"`
}

// Ref is a named, mutable pointer, such as a tag or a backup checkpoint.
type Ref struct {
	Name    string    `json:"name"`
	Target  string    `json:"target"`
	Version uint64    `json:"version"`
	Time    time.Time `json:"time"`
}

// RefRequest sets a ref; IfVersion makes it a compare-and-swap (0: the
// ref must not exist).
type RefRequest struct {
	Target    string  `json:"target"`
	IfVersion *uint64 `json:"if_version,omitempty"`
}

// Error is the body of every error answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// DeleteResult counts deleted objects.
type DeleteResult struct {
	Deleted int `json:"deleted"`
}

// NodeStatus is one node as GET /v1/cluster/status shows it.
type NodeStatus struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	Suffrage     string `json:"suffrage"`
	Role         string `json:"role"`
	Term         uint64 `json:"term"`
	Applied      uint64 `json:"applied"`
	Lag          uint64 `json:"lag"` // entries behind the leader's applied index
	MissingBytes int64  `json:"missing_chunk_bytes"`
	MissingCount int64  `json:"missing_chunks"`
	// Features lists the cluster features the node's release knows
	// (nodes of releases before features left it out).
	Features []string `json:"features,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// ClusterStatus is the answer of GET /v1/cluster/status.
type ClusterStatus struct {
	Leader string       `json:"leader"`
	Nodes  []NodeStatus `json:"nodes"`
	// Features lists the features turned on for the whole cluster, in the
	// answering node's applied state; the leader turns one on once every
	// member knows it.
	Features []string `json:"features,omitempty"`
}

// JoinRequest is the body of POST /v1/cluster/join and /v1/cluster/remove
// (which needs only ID).
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr,omitempty"`
	Voter    bool   `json:"voter,omitempty"`
}

// AccessKey is a credential of the cluster, as GET /v1/keys shows it. Its
// Secret is set only in the answer that created it.
type AccessKey struct {
	ID      string    `json:"id"`
	Secret  string    `json:"secret,omitempty"`
	Role    string    `json:"role"`
	Buckets []string  `json:"buckets,omitempty"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
}

// KeyRequest is the body of POST /v1/keys. ID and Secret are generated
// when left empty.
type KeyRequest struct {
	ID      string   `json:"id,omitempty"`
	Secret  string   `json:"secret,omitempty"`
	Role    string   `json:"role"`
	Buckets []string `json:"buckets,omitempty"`
	Name    string   `json:"name,omitempty"`
}

// RestoreResult is the answer of POST /v1/admin/restore.
type RestoreResult struct {
	Applied uint64 `json:"applied"` // the leader's applied index after the restore
}

// GCResult is the answer of POST /v1/admin/gc: what one pass on one node
// did.
type GCResult struct {
	Full       bool    `json:"full"`
	Scanned    int64   `json:"scanned"`
	Candidates int64   `json:"candidates"`
	Deleted    int64   `json:"deleted"`
	FreedBytes int64   `json:"freed_bytes"`
	Kept       int64   `json:"kept"`
	Pruned     int64   `json:"pruned"`
	Backlog    int64   `json:"backlog"`
	Seconds    float64 `json:"seconds"`
}

// TierResult is the answer of POST /v1/admin/tier.
type TierResult struct {
	Cold         int64   `json:"cold"`
	Copied       int64   `json:"copied"`
	CopiedBytes  int64   `json:"copied_bytes"`
	Evicted      int64   `json:"evicted"`
	EvictedBytes int64   `json:"evicted_bytes"`
	Doomed       int64   `json:"doomed"`
	Forgotten    int64   `json:"forgotten"`
	Deleted      int64   `json:"deleted"`
	Seconds      float64 `json:"seconds"`
}

// ScrubResult is the answer of POST /v1/admin/scrub.
type ScrubResult struct {
	Chunks   int64    `json:"chunks"`
	Bytes    int64    `json:"bytes"` // logical bytes verified
	Corrupt  int64    `json:"corrupt"`
	Repaired int      `json:"repaired"`
	Lost     []string `json:"lost,omitempty"` // corrupt and found on no peer
}

// ReclaimResult is the answer of POST /v1/admin/reclaim.
type ReclaimResult struct {
	Rewritten int   `json:"rewritten"` // files rewritten
	Before    int64 `json:"before"`    // bytes on disk before
	After     int64 `json:"after"`
	Took      int64 `json:"took"` // nanoseconds
}
