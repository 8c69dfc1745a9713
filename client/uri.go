package client

import (
	"fmt"
	"strings"
)

// URI kinds.
const (
	KindObject = "object" // <bucket>/<key> or s3://<bucket>/<key>
	KindRun    = "run"    // runs:/<run_id>/<path>
	KindModel  = "model"  // models:/<model_id>[/<path>]
)

// URI is a parsed artifact location.
type URI struct {
	Kind string
	// Bucket and Key name an object or, with Key ending in "/" or
	// empty, a key prefix (KindObject only).
	Bucket string
	Key    string
	// ID is the run id or model id, and Path the artifact path below it
	// (KindRun and KindModel).
	ID   string
	Path string
}

// ParseURI parses runs:/<run_id>/<path>, models:/<model_id>[/<path>],
// s3://<bucket>[/<key>] and <bucket>[/<key>]. It checks the form only;
// Resolve asks the server what the URI names.
func ParseURI(s string) (URI, error) {
	bad := func(why string) (URI, error) {
		return URI{}, fmt.Errorf("%w: %q: %s", ErrInvalidURI, s, why)
	}
	switch {
	case strings.HasPrefix(s, "runs:/"), strings.HasPrefix(s, "models:/"):
		kind, rest := KindRun, strings.TrimPrefix(s, "runs:/")
		if strings.HasPrefix(s, "models:/") {
			kind, rest = KindModel, strings.TrimPrefix(s, "models:/")
		}
		rest = strings.TrimLeft(rest, "/")
		id, path, _ := strings.Cut(rest, "/")
		if id == "" {
			return bad("missing the " + kind + " id")
		}
		return URI{Kind: kind, ID: id, Path: strings.Trim(path, "/")}, nil
	case strings.Contains(s, "://") && !strings.HasPrefix(s, "s3://"):
		return bad("want runs:/, models:/, s3:// or bucket/key")
	}
	b, k, _ := strings.Cut(strings.TrimPrefix(s, "s3://"), "/")
	switch {
	case b == "":
		return bad("missing the bucket")
	case strings.ContainsAny(b, ":"):
		return bad("want runs:/, models:/, s3:// or bucket/key")
	}
	return URI{Kind: KindObject, Bucket: b, Key: k}, nil
}

// String returns the URI in its canonical form.
func (u URI) String() string {
	switch u.Kind {
	case KindRun:
		return "runs:/" + u.ID + "/" + u.Path
	case KindModel:
		if u.Path == "" {
			return "models:/" + u.ID
		}
		return "models:/" + u.ID + "/" + u.Path
	}
	return u.Bucket + "/" + u.Key
}
