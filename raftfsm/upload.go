package raftfsm

import "cairn/cas"

// CreateUpload starts a multipart upload of Bucket/Key. The proposer
// picks UploadID.
type CreateUpload struct {
	UploadID string     `json:"upload_id"`
	Bucket   string     `json:"bucket"`
	Key      string     `json:"key"`
	Meta     ObjectMeta `json:"meta"`
	Time     int64      `json:"time"`
}

// PutPart records part Number of an upload. A later PutPart of the same
// number replaces it: the last one applied wins.
type PutPart struct {
	UploadID  string            `json:"upload_id"`
	Number    int               `json:"number"`
	File      File              `json:"file"`
	ETag      string            `json:"etag"`
	Checksums map[string]string `json:"checksums,omitempty"`
	Time      int64             `json:"time"`
}

// CompletePart names a part the completed object is built from: the
// ETag the client gave and the file digest the proposer read for it.
type CompletePart struct {
	Number int        `json:"number"`
	ETag   string     `json:"etag"`
	Digest cas.Digest `json:"digest"`
}

// CompleteUpload turns an upload into an object whose content is its parts
// one after the other. The proposer concatenated the parts' recipes and
// hashed the whole content into File; Apply checks that every part still
// has the digest the proposer read. Completing again with the same part
// list after the upload is gone succeeds with the same object.
type CompleteUpload struct {
	UploadID   string            `json:"upload_id"`
	Bucket     string            `json:"bucket"`
	Key        string            `json:"key"`
	Parts      []CompletePart    `json:"parts"`
	File       File              `json:"file"`
	ETag       string            `json:"etag"`
	Checksums  map[string]string `json:"checksums,omitempty"`
	Time       int64             `json:"time"`
	Model      *Model            `json:"model,omitempty"`
	Conditions Conditions        `json:"conditions"`
}

// AbortUpload drops an upload and its parts. It never touches the object.
type AbortUpload struct {
	UploadID string `json:"upload_id"`
}

// Upload is an upload in progress.
type Upload struct {
	UploadID string     `json:"upload_id"`
	Bucket   string     `json:"bucket"`
	Key      string     `json:"key"`
	Meta     ObjectMeta `json:"meta"`
	Time     int64      `json:"time"`
	// Chunks counts the chunks of the upload's current parts' recipes.
	// It stays within MaxChunksPerFile, the most the completed file may
	// hold, which also bounds what an abort or a complete must write.
	Chunks int `json:"chunks,omitempty"`
}

// Part is one uploaded part.
type Part struct {
	Number    int               `json:"number"`
	Digest    cas.Digest        `json:"digest"`
	Size      int64             `json:"size"`
	ETag      string            `json:"etag"`
	Checksums map[string]string `json:"checksums,omitempty"`
	Time      int64             `json:"time"`
	Chunks    int               `json:"chunks,omitempty"` // in its recipe
}
