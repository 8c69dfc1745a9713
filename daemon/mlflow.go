package daemon

import (
	"context"
	"crypto/subtle"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"cairn/raftfsm"
)

// mlflowPrefix is where MLflow's proxied artifact API lives.
const mlflowPrefix = "/api/2.0/mlflow-artifacts/"

// writeMLflowError answers in MLflow's JSON error form. A missing file is
// 404 RESOURCE_DOES_NOT_EXIST, which the MLflow client does not retry
// (mlflow server answers 500, which it retries for minutes).
func writeMLflowError(w http.ResponseWriter, err error) {
	e := classify(err)
	code := "INTERNAL_ERROR"
	switch {
	case e.Status == http.StatusNotFound:
		code = "RESOURCE_DOES_NOT_EXIST"
	case e.Status == http.StatusNotImplemented:
		code = "NOT_IMPLEMENTED"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		code = "PERMISSION_DENIED"
	case e.Status/100 == 4:
		code = "INVALID_PARAMETER_VALUE"
	case e.Status == http.StatusServiceUnavailable:
		code = "TEMPORARILY_UNAVAILABLE"
	}
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, map[string]string{"error_code": code, "message": e.Message})
}

// serveMLflow answers MLflow's proxied artifact API: artifacts/<path>
// (PUT, GET, DELETE), artifacts?path= (list), and mpu/{create,complete,
// abort}/<path> plus the part URLs mpu/create hands out.
func (s *Server) serveMLflow(w http.ResponseWriter, r *http.Request, rest string) {
	if strings.HasPrefix(rest, "mpu/part") {
		s.mlflowPart(w, r) // authenticated by the signed URL itself
		return
	}
	if !s.mlflowAuthOK(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
		writeMLflowError(w, requestErr(http.StatusUnauthorized, "Unauthorized", "MLflow artifact API: wrong or missing credentials"))
		return
	}
	if err := s.ensureBucket(r.Context(), s.cfg.MLflowBucket); err != nil {
		writeMLflowError(w, err)
		return
	}
	switch {
	case rest == "artifacts" || rest == "artifacts/":
		if r.Method != http.MethodGet {
			writeMLflowError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed", r.Method))
			return
		}
		s.mlflowList(w, r, r.URL.Query().Get("path"))
	case strings.HasPrefix(rest, "artifacts/"):
		p, err := url.PathUnescape(strings.TrimPrefix(rest, "artifacts/"))
		if err != nil {
			writeMLflowError(w, badRequest("InvalidKey", "bad escape in path"))
			return
		}
		s.mlflowArtifact(w, r, p)
	case strings.HasPrefix(rest, "mpu/"):
		s.mlflowMultipart(w, r, strings.TrimPrefix(rest, "mpu/"))
	default:
		writeMLflowError(w, requestErr(http.StatusNotFound, "NoSuchRoute", "no route %s%s", mlflowPrefix, rest))
	}
}

// mlflowAuthOK checks Basic credentials or the bearer token, when the
// node is configured with them.
func (s *Server) mlflowAuthOK(r *http.Request) bool {
	if s.cfg.MLflowUsername == "" && s.cfg.Token == "" {
		return true
	}
	if u, p, ok := r.BasicAuth(); ok && s.cfg.MLflowUsername != "" {
		return subtle.ConstantTimeCompare([]byte(u), []byte(s.cfg.MLflowUsername)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(s.cfg.MLflowPassword)) == 1
	}
	return s.cfg.Token != "" && s.tokenOK(r)
}

// ensureBucket creates a bucket the first time it is needed.
func (s *Server) ensureBucket(ctx context.Context, name string) error {
	if _, err := s.node.State().Bucket(name); err == nil {
		return nil
	}
	_, err := s.propose(ctx, &raftfsm.CreateBucket{Bucket: name, IfNotExists: true, Time: s.cfg.Now().UnixNano()})
	return err
}

func (s *Server) mlflowArtifact(w http.ResponseWriter, r *http.Request, key string) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodPut:
		_, err := s.putObject(ctx, putRequest{
			Bucket: s.cfg.MLflowBucket, Key: key, Body: r.Body, Length: r.ContentLength,
			Meta: raftfsm.ObjectMeta{ContentType: r.Header.Get("Content-Type")},
		})
		if err != nil {
			writeMLflowError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	case http.MethodGet, http.MethodHead:
		o, rec, err := s.lookup(ctx, s.cfg.MLflowBucket, key, s.cfg.ConsistentReads)
		if err != nil {
			writeMLflowError(w, err)
			return
		}
		_, base := path.Split(key)
		ct := mime.TypeByExtension(path.Ext(base))
		if ct == "" {
			ct = "application/octet-stream"
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": base}))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", o.Meta.ETag)
		h.Set("X-Cairn-Digest", o.Digest.String())
		s.sendContent(ctx, w, r, rec, byteRange{0, o.Size - 1}, http.StatusOK)
	case http.MethodDelete:
		// mlflow gc and MlflowClient.delete_artifacts delete a file or a
		// whole folder.
		if _, err := s.propose(ctx, &raftfsm.DeleteObject{Bucket: s.cfg.MLflowBucket, Key: key}); err != nil {
			writeMLflowError(w, err)
			return
		}
		if _, err := s.deletePrefix(r, s.cfg.MLflowBucket, strings.TrimSuffix(key, "/")+"/"); err != nil {
			writeMLflowError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	default:
		writeMLflowError(w, requestErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed", r.Method))
	}
}

// mlflowFile is one entry of an artifact listing.
type mlflowFile struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

// mlflowList lists the immediate children of a folder, by base name. An
// empty or missing folder, and a path that names a file, answer {}: the
// client decides "folder?" by whether the list is empty.
func (s *Server) mlflowList(w http.ResponseWriter, r *http.Request, p string) {
	p = strings.Trim(p, "/")
	prefix := ""
	if p != "" {
		if err := checkKey(p); err != nil {
			writeMLflowError(w, err)
			return
		}
		prefix = p + "/"
	}
	if s.cfg.ConsistentReads {
		if err := s.readBarrier(r.Context()); err != nil {
			writeMLflowError(w, err)
			return
		}
	}
	var files []mlflowFile
	after := ""
	for {
		page, err := s.node.State().List(s.cfg.MLflowBucket, raftfsm.ListOptions{Prefix: prefix, Delimiter: "/", StartAfter: after})
		if err != nil {
			writeMLflowError(w, err)
			return
		}
		for _, cp := range page.CommonPrefixes {
			files = append(files, mlflowFile{Path: path.Base(strings.TrimSuffix(cp, "/")), IsDir: true})
		}
		for _, o := range page.Objects {
			size := o.Size
			files = append(files, mlflowFile{Path: strings.TrimPrefix(o.Key, prefix), FileSize: &size})
		}
		if !page.Truncated {
			break
		}
		after = page.Next
	}
	if len(files) == 0 {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, map[string][]mlflowFile{"files": files})
}
