package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"cairn/raftfsm"
)

// partURLLifetime is how long a part URL handed out by mpu/create stays
// valid.
const partURLLifetime = 6 * time.Hour

// mpuCreateRequest is the body of mpu/create: the client's local path
// (whose base name names the object) and the number of parts.
type mpuCreateRequest struct {
	Path     string `json:"path"`
	NumParts int    `json:"num_parts"`
}

type mpuCredential struct {
	URL        string `json:"url"`
	PartNumber int    `json:"part_number"`
}

type mpuCompleteRequest struct {
	Path     string `json:"path"`
	UploadID string `json:"upload_id"`
	Parts    []struct {
		PartNumber int    `json:"part_number"`
		ETag       string `json:"etag"`
		URL        string `json:"url,omitempty"`
	} `json:"parts"`
}

// mlflowMultipart answers mpu/create, mpu/complete and mpu/abort. The
// part URLs that create hands out point at this node and carry their own
// signed, expiring token, since the MLflow client sends parts without its
// credentials; any node of the cluster accepts them.
func (s *Server) mlflowMultipart(w http.ResponseWriter, r *http.Request, rest string) {
	if r.Method != http.MethodPost {
		writeMLflowError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST"))
		return
	}
	op, dir, _ := strings.Cut(rest, "/")
	dir, err := url.PathUnescape(dir)
	if err != nil {
		writeMLflowError(w, badRequest("InvalidKey", "bad escape in path"))
		return
	}
	switch op {
	case "create":
		err = s.mpuCreate(w, r, dir)
	case "complete":
		err = s.mpuComplete(w, r, dir)
	case "abort":
		err = s.mpuAbort(w, r, dir)
	default:
		err = requestErr(http.StatusNotFound, "NoSuchRoute", "no route mpu/%s", op)
	}
	if err != nil {
		writeMLflowError(w, err)
	}
}

// mpuKey names the object of a multipart upload: the folder of the route
// and the base name of the client's local file.
func mpuKey(dir, localPath string) (string, error) {
	base := path.Base(strings.ReplaceAll(localPath, "\\", "/"))
	if localPath == "" || base == "." || base == "/" || base == ".." {
		return "", badRequest("InvalidParameterValue", "path %q names no file", localPath)
	}
	key := strings.Trim(dir, "/") + "/" + base
	return key, checkKey(key)
}

func (s *Server) mpuCreate(w http.ResponseWriter, r *http.Request, dir string) error {
	var req mpuCreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.NumParts < 1 || req.NumParts > raftfsm.MaxPartNumber {
		return badRequest("InvalidParameterValue", "num_parts %d outside 1..%d", req.NumParts, raftfsm.MaxPartNumber)
	}
	key, err := mpuKey(dir, req.Path)
	if err != nil {
		return err
	}
	id := newUploadID()
	ct := mime.TypeByExtension(path.Ext(key))
	if _, err := s.propose(r.Context(), &raftfsm.CreateUpload{UploadID: id, Bucket: s.cfg.MLflowBucket, Key: key,
		Meta: raftfsm.ObjectMeta{ContentType: ct}, Time: s.cfg.Now().UnixNano()}); err != nil {
		return err
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	expires := s.cfg.Now().Add(partURLLifetime).Unix()
	creds := make([]mpuCredential, req.NumParts)
	for i := range creds {
		n := i + 1
		q := url.Values{"upload_id": {id}, "part_number": {strconv.Itoa(n)}, "expires": {strconv.FormatInt(expires, 10)}}
		q.Set("signature", s.partSignature(id, n, expires))
		creds[i] = mpuCredential{URL: scheme + "://" + r.Host + mlflowPrefix + "mpu/part?" + q.Encode(), PartNumber: n}
	}
	writeJSON(w, http.StatusOK, map[string]any{"upload_id": id, "credentials": creds})
	return nil
}

// partSignature signs a part URL's upload id, part number and expiry.
func (s *Server) partSignature(id string, n int, expires int64) string {
	m := hmac.New(sha256.New, s.partKey)
	fmt.Fprintf(m, "%s\n%d\n%d", id, n, expires)
	return hex.EncodeToString(m.Sum(nil))
}

// mlflowPart stores one part sent to a URL from mpu/create, and answers
// with its ETag.
func (s *Server) mlflowPart(w http.ResponseWriter, r *http.Request) {
	err := s.mpuPart(w, r)
	if err != nil {
		writeMLflowError(w, err)
	}
}

func (s *Server) mpuPart(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPut {
		return requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "use PUT")
	}
	q := r.URL.Query()
	id := q.Get("upload_id")
	n, err1 := strconv.Atoi(q.Get("part_number"))
	expires, err2 := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err1 != nil || err2 != nil || !hmac.Equal([]byte(q.Get("signature")), []byte(s.partSignature(id, n, expires))) {
		return requestErr(http.StatusForbidden, "AccessDenied", "the part URL's signature does not match")
	}
	if s.cfg.Now().Unix() > expires {
		return requestErr(http.StatusForbidden, "AccessDenied", "the part URL expired")
	}
	u, _, err := s.node.State().Upload(id)
	if err != nil {
		if err := s.readBarrier(r.Context()); err != nil {
			return err
		}
		if u, _, err = s.node.State().Upload(id); err != nil {
			return err
		}
	}
	if err := s.roomFor(r.ContentLength); err != nil {
		return err
	}
	sc, err := s.storeContent(r.Context(), r.Body, r.ContentLength, maxS3SinglePut, nil, nil)
	if err != nil {
		return err
	}
	if err := s.putPart(r.Context(), u.UploadID, n, sc, nil); err != nil {
		return err
	}
	w.Header().Set("ETag", sc.ETag)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) mpuComplete(w http.ResponseWriter, r *http.Request, dir string) error {
	ctx := r.Context()
	var req mpuCompleteRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	key, err := mpuKey(dir, req.Path)
	if err != nil {
		return err
	}
	parts := make([]completePart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = completePart{PartNumber: p.PartNumber, ETag: p.ETag}
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			return badRequest("InvalidPartOrder", "parts not in ascending order")
		}
	}
	etag, err := multipartETag(parts)
	if err != nil {
		return err
	}
	cmd := &raftfsm.CompleteUpload{UploadID: req.UploadID, Bucket: s.cfg.MLflowBucket, Key: key, ETag: etag, Time: s.cfg.Now().UnixNano()}
	_, stored, err := s.s3Upload(ctx, req.UploadID, s.cfg.MLflowBucket, key)
	if err != nil {
		return err
	}
	if err := s.fillCompletion(ctx, cmd, parts, stored); err != nil {
		return err
	}
	if _, err := s.propose(ctx, cmd); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) mpuAbort(w http.ResponseWriter, r *http.Request, dir string) error {
	var req mpuCompleteRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	key, err := mpuKey(dir, req.Path)
	if err != nil {
		return err
	}
	if _, _, err := s.s3Upload(r.Context(), req.UploadID, s.cfg.MLflowBucket, key); err != nil {
		return err
	}
	if _, err := s.propose(r.Context(), &raftfsm.AbortUpload{UploadID: req.UploadID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
