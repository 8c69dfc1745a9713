package core

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/daemon/internal/sigv4"
	"cairn/daemon/mlmodel"
	"cairn/raftfsm"
)

// Multipart uploads are shared by S3 and by MLflow's proxied artifact
// API: both create an upload, store parts with StoreContent and PutPart,
// and complete it with Complete.

// NewUploadID returns a random, unguessable multipart upload id.
func NewUploadID() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Upload returns an upload of bucket/key and its parts. An upload this
// node does not know yet may have been created through another node: it
// looks again after a read barrier before answering NoSuchUpload (at once
// after one, for a consistent read).
func (n *Node) Upload(ctx context.Context, id, bucket, key string, consistent bool) (raftfsm.Upload, []raftfsm.Part, error) {
	if id == "" {
		return raftfsm.Upload{}, nil, fmt.Errorf("%w: empty upload id", raftfsm.ErrNoSuchUpload)
	}
	if consistent {
		if err := n.ReadBarrier(ctx); err != nil {
			return raftfsm.Upload{}, nil, err
		}
	}
	u, parts, err := n.State().Upload(id)
	if errors.Is(err, raftfsm.ErrNoSuchUpload) && !consistent {
		if err := n.ReadBarrier(ctx); err != nil {
			return u, nil, err
		}
		u, parts, err = n.State().Upload(id)
	}
	if err != nil {
		return u, nil, err
	}
	if u.Bucket != bucket || u.Key != key {
		return u, nil, fmt.Errorf("%w: %s is not an upload of %s/%s", raftfsm.ErrNoSuchUpload, id, bucket, key)
	}
	return u, parts, nil
}

// PutPart commits a stored part under its number. The last part applied
// under a number wins.
func (n *Node) PutPart(ctx context.Context, id string, number int, sc Stored, checksums map[string]string) error {
	_, err := n.Propose(ctx, &raftfsm.PutPart{
		UploadID: id, Number: number, File: sc.File, ETag: sc.ETag, Checksums: checksums, Time: n.Now().UnixNano(),
	})
	return err
}

// CompletePart is one part of a client's list in a Complete.
type CompletePart struct {
	Number    int
	ETag      string
	Checksums map[string]string // by canonical algorithm name
}

// MultipartETag returns S3's ETag of a multipart object: the MD5 of the
// parts' binary MD5s, a dash and the part count. It depends on the
// client's list only, so that a retried Complete names the same object.
func MultipartETag(parts []CompletePart) (string, error) {
	sum := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(httpx.NormETag(p.ETag))
		if err != nil || len(b) != md5.Size {
			return "", apierr.BadRequest("InvalidPart", "part %d: the ETag %q is not one cairn gave", p.Number, p.ETag)
		}
		sum.Write(b)
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(sum.Sum(nil)), len(parts)), nil
}

// completion is what Complete proposes, as read from the upload's
// current parts.
type completion struct {
	parts  []raftfsm.CompletePart
	recipe cas.Recipe
	stored []raftfsm.Part // in the order of the client's list
}

// planCompletion checks the client's part list against the parts stored
// and concatenates their recipes, which st holds.
func planCompletion(st *raftfsm.State, maxSize int64, parts []CompletePart, stored []raftfsm.Part) (completion, error) {
	var c completion
	byNumber := make(map[int]raftfsm.Part, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	for i, cp := range parts {
		p, ok := byNumber[cp.Number]
		if !ok || httpx.NormETag(p.ETag) != httpx.NormETag(cp.ETag) {
			return c, apierr.BadRequest("InvalidPart", "one or more of the specified parts could not be found: part %d with ETag %s", cp.Number, cp.ETag)
		}
		for alg, v := range cp.Checksums {
			if p.Checksums[alg] != v {
				return c, apierr.BadRequest("InvalidPart", "part %d: the %s checksum %s is not the part's", cp.Number, alg, v)
			}
		}
		if i < len(parts)-1 && p.Size < raftfsm.MinPartSize {
			return c, apierr.BadRequest("EntityTooSmall", "your proposed upload is smaller than the minimum allowed size: part %d is %d bytes, every part but the last takes at least %d", p.Number, p.Size, raftfsm.MinPartSize)
		}
		rec, err := st.File(p.Digest)
		if errors.Is(err, raftfsm.ErrNotFound) {
			return c, apierr.BadRequest("InvalidPart", "part %d was replaced during completion", p.Number)
		}
		if err != nil {
			return c, err
		}
		c.recipe = append(c.recipe, rec.Recipe...)
		c.parts = append(c.parts, raftfsm.CompletePart{Number: p.Number, ETag: p.ETag, Digest: p.Digest})
		c.stored = append(c.stored, p)
	}
	if len(c.recipe) > raftfsm.MaxChunksPerFile {
		return c, fmt.Errorf("%w: %d chunks", ErrTooLarge, len(c.recipe))
	}
	if c.recipe.Size() > maxSize {
		return c, fmt.Errorf("%w: %d bytes", ErrTooLarge, c.recipe.Size())
	}
	return c, nil
}

// FillCompletion sets the file, parts, checksums and model of a Complete
// from the parts stored: it checks the client's list against them,
// concatenates their recipes and hashes the whole content (every chunk
// verified). The command carries the part digests it read, so that Apply
// refuses it if a part was replaced meanwhile. If the upload ended while
// its parts were read, the error is raftfsm.ErrNoSuchUpload.
func (n *Node) FillCompletion(ctx context.Context, cmd *raftfsm.CompleteUpload, parts []CompletePart, stored []raftfsm.Part) error {
	err := fillCompletion(ctx, n, cmd, parts, stored)
	if err != nil {
		// An abort or another Complete may end the upload while its
		// parts are read: answer as if it had ended before.
		if _, _, uerr := n.State().Upload(cmd.UploadID); errors.Is(uerr, raftfsm.ErrNoSuchUpload) {
			return uerr
		}
	}
	return err
}

// fillCompletion is FillCompletion but for an upload that ended.
func fillCompletion(ctx context.Context, n *Node, cmd *raftfsm.CompleteUpload, parts []CompletePart, stored []raftfsm.Part) error {
	plan, err := planCompletion(n.State(), n.cfg.MaxObjectSize, parts, stored)
	if err != nil {
		return err
	}
	sums, fullCRC64 := compositeChecksums(plan.stored)
	var head int64
	if IsMLmodel(cmd.Key) {
		head = mlmodel.MaxSize + 1
	}
	rd, err := n.Content(ctx, plan.recipe, 0)
	if err != nil {
		return err
	}
	digest, crc, first, err := hashContent(rd, fullCRC64, head)
	rd.Close()
	if err != nil {
		return err
	}
	if fullCRC64 {
		sums[sigv4.ChecksumCRC64NVME] = crc
	}
	if head > 0 {
		cmd.Model = mlmodel.Index(first)
	}
	cmd.Parts, cmd.Checksums = plan.parts, sums
	cmd.File = raftfsm.File{Digest: digest, Size: plan.recipe.Size(), Recipe: plan.recipe}
	return nil
}

// compositeChecksums returns the checksums of a multipart object from its
// parts': for an algorithm every part has, the checksum of the parts'
// checksums, then -N (COMPOSITE), as S3. CRC64NVME is a FULL_OBJECT
// checksum: the caller computes it over the content and fullCRC64 says so.
func compositeChecksums(parts []raftfsm.Part) (sums map[string]string, fullCRC64 bool) {
	if len(parts) == 0 {
		return nil, false
	}
	sums = map[string]string{}
	for alg := range parts[0].Checksums {
		if !slices.ContainsFunc(parts, func(p raftfsm.Part) bool { return p.Checksums[alg] == "" }) {
			if alg == sigv4.ChecksumCRC64NVME {
				fullCRC64 = true
				continue
			}
			h, err := sigv4.NewChecksum(alg)
			if err != nil {
				continue
			}
			ok := true
			for _, p := range parts {
				b, err := base64.StdEncoding.DecodeString(p.Checksums[alg])
				ok = ok && err == nil
				h.Write(b)
			}
			if ok {
				sums[alg] = base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
			}
		}
	}
	return sums, fullCRC64
}

// hashContent reads a file to its end and returns its BLAKE3 digest, its
// CRC64NVME when asked, and its first head bytes.
func hashContent(rd io.Reader, crc64 bool, head int64) (chunk.Digest, string, []byte, error) {
	h := chunk.NewHasher()
	ws := []io.Writer{h}
	var crc hash.Hash
	if crc64 {
		crc, _ = sigv4.NewChecksum(sigv4.ChecksumCRC64NVME)
		ws = append(ws, crc)
	}
	var first []byte
	if head > 0 {
		ws = append(ws, &cappedWriter{w: (*byteSink)(&first), n: int(head)})
	}
	if _, err := io.Copy(io.MultiWriter(ws...), rd); err != nil {
		return chunk.Digest{}, "", nil, fmt.Errorf("read parts: %w", err)
	}
	sum := ""
	if crc != nil {
		sum = base64.StdEncoding.EncodeToString(crc.Sum(nil))
	}
	return h.Digest(), sum, first, nil
}
