package daemon

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"cairn/cas"
	"cairn/cas/chunk"
	"cairn/daemon/internal/sigv4"
	"cairn/raftfsm"
)

// normETag strips the quotes and weak prefix of an ETag.
func normETag(s string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
}

// multipartETag returns S3's ETag of a multipart object: the MD5 of the
// parts' binary MD5s, a dash and the part count. It depends on the
// client's list only, so that a retried Complete names the same object.
func multipartETag(parts []completePart) (string, error) {
	sum := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(normETag(p.ETag))
		if err != nil || len(b) != md5.Size {
			return "", badRequest("InvalidPart", "part %d: the ETag %q is not one cairn gave", p.PartNumber, p.ETag)
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
// and concatenates their recipes.
func (s *Server) planCompletion(parts []completePart, stored []raftfsm.Part) (completion, error) {
	var c completion
	byNumber := make(map[int]raftfsm.Part, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	for i, cp := range parts {
		p, ok := byNumber[cp.PartNumber]
		if !ok || normETag(p.ETag) != normETag(cp.ETag) {
			return c, badRequest("InvalidPart", "one or more of the specified parts could not be found: part %d with ETag %s", cp.PartNumber, cp.ETag)
		}
		for alg, v := range cp.checksumMap() {
			if p.Checksums[alg] != v {
				return c, badRequest("InvalidPart", "part %d: the %s checksum %s is not the part's", cp.PartNumber, alg, v)
			}
		}
		if i < len(parts)-1 && p.Size < raftfsm.MinPartSize {
			return c, badRequest("EntityTooSmall", "your proposed upload is smaller than the minimum allowed size: part %d is %d bytes, every part but the last takes at least %d", p.Number, p.Size, raftfsm.MinPartSize)
		}
		rec, err := s.node.State().File(p.Digest)
		if errors.Is(err, raftfsm.ErrNotFound) {
			return c, badRequest("InvalidPart", "part %d was replaced during completion", p.Number)
		}
		if err != nil {
			return c, err
		}
		c.recipe = append(c.recipe, rec.Recipe...)
		c.parts = append(c.parts, raftfsm.CompletePart{Number: p.Number, ETag: p.ETag, Digest: p.Digest})
		c.stored = append(c.stored, p)
	}
	if len(c.recipe) > raftfsm.MaxChunksPerFile {
		return c, fmt.Errorf("%w: %d chunks", errTooLarge, len(c.recipe))
	}
	if c.recipe.Size() > s.cfg.MaxObjectSize {
		return c, fmt.Errorf("%w: %d bytes", errTooLarge, c.recipe.Size())
	}
	return c, nil
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

// hashContent streams a file from the chunk store, every chunk verified,
// and returns its BLAKE3 digest, its CRC64NVME when asked, and its first
// bytes when it may be an MLmodel file.
func (s *Server) hashContent(ctx context.Context, recipe cas.Recipe, crc64 bool, head int64) (chunk.Digest, string, []byte, error) {
	if err := s.ensureLocal(ctx, recipe); err != nil {
		return chunk.Digest{}, "", nil, err
	}
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
	rd := s.store.Open(ctx, recipe)
	defer rd.Close()
	if _, err := io.Copy(io.MultiWriter(ws...), rd); err != nil {
		return chunk.Digest{}, "", nil, fmt.Errorf("read parts: %w", err)
	}
	sum := ""
	if crc != nil {
		sum = base64.StdEncoding.EncodeToString(crc.Sum(nil))
	}
	return h.Digest(), sum, first, nil
}

// s3CompleteUpload makes an upload's parts an object. It reads the parts
// the upload holds now, concatenates their recipes, hashes the whole
// content and proposes the object with the part digests it read, so that
// Apply refuses it if a part was replaced meanwhile. A Complete of an
// upload that is gone is proposed as is: Apply answers it with the object
// when the same list completed it, and NoSuchUpload otherwise.
func (s *Server) s3CompleteUpload(w http.ResponseWriter, q *s3Request) error {
	ctx := q.r.Context()
	id := q.query.Get("uploadId")
	declared := declaredChecksums(q.r.Header)
	body, err := s3Body(q, maxS3XMLBody)
	if err != nil {
		return err
	}
	parts, err := parseCompleteXML(body)
	if err != nil {
		return err
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].PartNumber <= parts[i-1].PartNumber {
			return badRequest("InvalidPartOrder", "the list of parts was not in ascending order: %d after %d", parts[i].PartNumber, parts[i-1].PartNumber)
		}
	}
	etag, err := multipartETag(parts)
	if err != nil {
		return err
	}
	cmd := &raftfsm.CompleteUpload{UploadID: id, Bucket: q.bucket, Key: q.key, ETag: etag,
		Time: s.cfg.Now().UnixNano(), Conditions: writeConditions(q.r.Header)}
	_, stored, err := s.s3Upload(ctx, id, q.bucket, q.key)
	switch {
	case errors.Is(err, raftfsm.ErrNoSuchUpload):
		for _, p := range parts {
			cmd.Parts = append(cmd.Parts, raftfsm.CompletePart{Number: p.PartNumber, ETag: p.ETag})
		}
	case err != nil:
		return err
	default:
		if err := s.fillCompletion(ctx, cmd, parts, stored); err != nil {
			return err
		}
	}
	for alg, v := range declared {
		if got, ok := cmd.Checksums[alg]; ok && stripParts(got) != stripParts(v) {
			return badRequest("BadDigest", "the %s checksum of the object is %s, not %s", alg, got, v)
		}
	}
	res, err := s.propose(ctx, cmd)
	if err != nil {
		return err
	}
	scheme := "http"
	if q.r.TLS != nil {
		scheme = "https"
	}
	loc := (&url.URL{Scheme: scheme, Host: q.r.Host, Path: "/" + q.bucket + "/" + q.key}).String()
	writeXML(w, http.StatusOK, completeMultipartUploadResult{
		Location: loc, Bucket: q.bucket, Key: q.key, ETag: res.Object.Meta.ETag,
		checksumFields: checksumElements(res.Object.Meta.Checksums),
	})
	return nil
}

// fillCompletion sets the file, parts, checksums and model of a Complete
// from the parts stored.
func (s *Server) fillCompletion(ctx context.Context, cmd *raftfsm.CompleteUpload, parts []completePart, stored []raftfsm.Part) error {
	plan, err := s.planCompletion(parts, stored)
	if err != nil {
		return err
	}
	sums, fullCRC64 := compositeChecksums(plan.stored)
	var head int64
	if _, base := path.Split(cmd.Key); base == "MLmodel" {
		head = MaxMLmodelSize + 1
	}
	digest, crc, first, err := s.hashContent(ctx, plan.recipe, fullCRC64, head)
	if err != nil {
		return err
	}
	if fullCRC64 {
		sums[sigv4.ChecksumCRC64NVME] = crc
	}
	if head > 0 {
		cmd.Model = parseModel(first)
	}
	cmd.Parts, cmd.Checksums = plan.parts, sums
	cmd.File = raftfsm.File{Digest: digest, Size: plan.recipe.Size(), Recipe: plan.recipe}
	return nil
}

// declaredChecksums takes the x-amz-checksum-* headers off a Complete
// request and returns them. On CompleteMultipartUpload they declare the
// object's checksum, not the body's, so the body must not be checked
// against them.
func declaredChecksums(h http.Header) map[string]string {
	out := map[string]string{}
	for _, alg := range sigv4.ChecksumAlgorithms() {
		name := sigv4.ChecksumHeader(alg)
		if v := h.Get(name); v != "" {
			out[alg] = v
		}
		h.Del(name)
	}
	return out
}

// stripParts drops the -N part count of a composite checksum.
func stripParts(v string) string {
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		return v[:i]
	}
	return v
}
