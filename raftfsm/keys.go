package raftfsm

import (
	"encoding/binary"
	"fmt"

	"cairn/cas"

	"github.com/dgraph-io/badger/v4"
)

// Key layout of the state database. Every key starts with a one-byte
// table prefix; docs/format.md lists them. Bucket names never hold NUL and
// keys are checked to hold none, so "bucket NUL key" sorts by bucket, then
// key.
const (
	tApplied   = 'a' // a -> applied index and term
	tStats     = 's' // s -> Stats
	tBucket    = 'b' // b bucket -> Bucket
	tObject    = 'o' // o bucket 0 key -> Object
	tFile      = 'f' // f digest -> FileRecord
	tFileUse   = 'F' // F digest bucket 0 key -> "" : which keys use a file
	tChunk     = 'k' // k digest -> uvarint refs, uvarint size
	tZero      = 'z' // z digest -> index at which refs fell to zero
	tRef       = 'r' // r name -> Ref
	tModel     = 'M' // M bucket 0 key -> ModelEntry
	tModelUUID = 'U' // U model_uuid 0 bucket 0 key -> "": one per MLmodel with that uuid
	tModelID   = 'I' // I model_id 0 bucket 0 key -> ""
	tRun       = 'R' // R run_id -> Run (runs and MLflow 3 logged models)
	tUpload    = 'u' // u upload_id -> Upload
	tPart      = 'p' // p upload_id 0 number(4 bytes) -> Part
	tKey       = 'K' // K access_key_id -> AccessKey
	tTier      = 't' // t digest -> TierRecord: chunks the cold tier holds
	tLateETag  = 'e' // e bucket 0 key -> "": objects committed before their ETag
	tFeature   = 'x' // x name -> "": features the cluster turned on
)

func key(table byte, parts ...string) []byte {
	n := 1
	for _, p := range parts {
		n += len(p) + 1
	}
	k := make([]byte, 0, n)
	k = append(k, table)
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

func digestKey(table byte, d cas.Digest) []byte {
	return append([]byte{table}, d[:]...)
}

func objectKey(bucket, k string) []byte { return key(tObject, bucket, k) }

func fileUseKey(d cas.Digest, bucket, k string) []byte {
	out := digestKey(tFileUse, d)
	out = append(out, bucket...)
	out = append(out, 0)
	return append(out, k...)
}

func partKey(uploadID string, n int) []byte {
	k := key(tPart, uploadID, "")
	return binary.BigEndian.AppendUint32(k, uint32(n))
}

// splitObjectKey returns the bucket and key of an object, model or file
// use key after its prefix.
func splitBucketKey(rest []byte) (string, string, error) {
	for i, c := range rest {
		if c == 0 {
			return string(rest[:i]), string(rest[i+1:]), nil
		}
	}
	return "", "", fmt.Errorf("state key without bucket separator: %q", rest)
}

// prefixEnd returns the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func keyOnly(prefix []byte) badger.IteratorOptions {
	return badger.IteratorOptions{Prefix: prefix, PrefetchValues: false}
}
