package mlflowapi

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

	"cairn/daemon/core"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/raftfsm"
)

// maxPartSize is the largest part, as S3's.
const maxPartSize = 5 << 30

// PartURLLifetime is how long a part URL handed out by mpu/create stays
// valid.
const PartURLLifetime = 6 * time.Hour

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

// multipart answers mpu/create, mpu/complete and mpu/abort. The part
// URLs that create hands out point at this node and carry their own
// signed, expiring token, since the MLflow client sends parts without its
// credentials; any node of the cluster accepts them.
func (a *API) multipart(w http.ResponseWriter, r *http.Request, rest string) error {
	if r.Method != http.MethodPost {
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
	}
	op, dir, _ := strings.Cut(rest, "/")
	dir, err := url.PathUnescape(dir)
	if err != nil {
		return apierr.BadRequest("InvalidKey", "bad escape in path")
	}
	switch op {
	case "create":
		return a.mpuCreate(w, r, dir)
	case "complete":
		return a.mpuComplete(w, r, dir)
	case "abort":
		return a.mpuAbort(w, r, dir)
	}
	return apierr.New(http.StatusNotFound, "NoSuchRoute", "no route mpu/%s", op)
}

// mpuKey names the object of a multipart upload: the folder of the route
// and the base name of the client's local file.
func mpuKey(dir, localPath string) (string, error) {
	base := path.Base(strings.ReplaceAll(localPath, "\\", "/"))
	if localPath == "" || base == "." || base == "/" || base == ".." {
		return "", apierr.BadRequest("InvalidParameterValue", "path %q names no file", localPath)
	}
	key := base
	if dir = strings.Trim(dir, "/"); dir != "" {
		key = dir + "/" + base
	}
	if err := checkArtifactPath(key); err != nil {
		return "", err
	}
	return key, core.CheckKey(key)
}

func (a *API) mpuCreate(w http.ResponseWriter, r *http.Request, dir string) error {
	var req mpuCreateRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.NumParts < 1 || req.NumParts > raftfsm.MaxPartNumber {
		return apierr.BadRequest("InvalidParameterValue", "num_parts %d outside 1..%d", req.NumParts, raftfsm.MaxPartNumber)
	}
	key, err := mpuKey(dir, req.Path)
	if err != nil {
		return err
	}
	id := core.NewUploadID()
	ct := mime.TypeByExtension(path.Ext(key))
	if _, err := a.node.Propose(r.Context(), &raftfsm.CreateUpload{UploadID: id, Bucket: a.cfg.Bucket, Key: key,
		Meta: raftfsm.ObjectMeta{ContentType: ct}, Time: a.node.Now().UnixNano()}); err != nil {
		return err
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	expires := a.node.Now().Add(PartURLLifetime).Unix()
	creds := make([]mpuCredential, req.NumParts)
	for i := range creds {
		n := i + 1
		q := url.Values{"upload_id": {id}, "part_number": {strconv.Itoa(n)}, "expires": {strconv.FormatInt(expires, 10)}}
		q.Set("signature", a.partSignature(id, n, expires))
		creds[i] = mpuCredential{URL: scheme + "://" + r.Host + Prefix + "mpu/part?" + q.Encode(), PartNumber: n}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"upload_id": id, "credentials": creds})
	return nil
}

// partSignature signs a part URL's upload id, part number and expiry.
func (a *API) partSignature(id string, n int, expires int64) string {
	m := hmac.New(sha256.New, a.cfg.PartKey)
	fmt.Fprintf(m, "%s\n%d\n%d", id, n, expires)
	return hex.EncodeToString(m.Sum(nil))
}

// mpuPart stores one part sent to a URL from mpu/create, and answers
// with its ETag.
func (a *API) mpuPart(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPut {
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "use PUT")
	}
	q := r.URL.Query()
	id := q.Get("upload_id")
	n, err1 := strconv.Atoi(q.Get("part_number"))
	expires, err2 := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err1 != nil || err2 != nil || !hmac.Equal([]byte(q.Get("signature")), []byte(a.partSignature(id, n, expires))) {
		return apierr.New(http.StatusForbidden, "AccessDenied", "the part URL's signature does not match")
	}
	if a.node.Now().Unix() > expires {
		return apierr.New(http.StatusForbidden, "AccessDenied", "the part URL expired")
	}
	u, _, err := a.node.State().Upload(id)
	if err != nil {
		if err := a.node.ReadBarrier(r.Context()); err != nil {
			return err
		}
		if u, _, err = a.node.State().Upload(id); err != nil {
			return err
		}
	}
	if err := a.node.RoomFor(r.ContentLength); err != nil {
		return err
	}
	sc, err := a.node.StoreContent(r.Context(), r.Body, r.ContentLength, maxPartSize, nil, nil)
	if err != nil {
		return err
	}
	if err := a.node.PutPart(r.Context(), u.UploadID, n, sc, nil); err != nil {
		return err
	}
	w.Header().Set("ETag", sc.ETag)
	httpx.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) mpuComplete(w http.ResponseWriter, r *http.Request, dir string) error {
	ctx := r.Context()
	var req mpuCompleteRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	key, err := mpuKey(dir, req.Path)
	if err != nil {
		return err
	}
	parts := make([]core.CompletePart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = core.CompletePart{Number: p.PartNumber, ETag: p.ETag}
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			return apierr.BadRequest("InvalidPartOrder", "parts not in ascending order")
		}
	}
	etag, err := core.MultipartETag(parts)
	if err != nil {
		return err
	}
	cmd := &raftfsm.CompleteUpload{UploadID: req.UploadID, Bucket: a.cfg.Bucket, Key: key, ETag: etag, Time: a.node.Now().UnixNano()}
	_, stored, err := a.node.Upload(ctx, req.UploadID, a.cfg.Bucket, key, a.cfg.ConsistentReads)
	if err != nil {
		return err
	}
	if err := a.node.FillCompletion(ctx, cmd, parts, stored); err != nil {
		return err
	}
	if _, err := a.node.Propose(ctx, cmd); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) mpuAbort(w http.ResponseWriter, r *http.Request, dir string) error {
	var req mpuCompleteRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	key, err := mpuKey(dir, req.Path)
	if err != nil {
		return err
	}
	if _, _, err := a.node.Upload(r.Context(), req.UploadID, a.cfg.Bucket, key, a.cfg.ConsistentReads); err != nil {
		return err
	}
	if _, err := a.node.Propose(r.Context(), &raftfsm.AbortUpload{UploadID: req.UploadID}); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
