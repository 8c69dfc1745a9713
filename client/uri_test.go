package client

import (
	"errors"
	"testing"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want URI
	}{
		{"runs:/0123456789abcdef0123456789abcdef/models_mlflow", URI{Kind: KindRun, ID: "0123456789abcdef0123456789abcdef", Path: "models_mlflow"}},
		{"runs:/r1/a/b/", URI{Kind: KindRun, ID: "r1", Path: "a/b"}},
		{"runs:///r1", URI{Kind: KindRun, ID: "r1"}},
		{"models:/m-0123456789abcdef0123456789abcdef", URI{Kind: KindModel, ID: "m-0123456789abcdef0123456789abcdef"}},
		{"models:/m-1/MLmodel", URI{Kind: KindModel, ID: "m-1", Path: "MLmodel"}},
		{"mlflow/1/r/artifacts/model.xgb", URI{Kind: KindObject, Bucket: "mlflow", Key: "1/r/artifacts/model.xgb"}},
		{"s3://mlflow/a/b", URI{Kind: KindObject, Bucket: "mlflow", Key: "a/b"}},
		{"bucket", URI{Kind: KindObject, Bucket: "bucket"}},
		{"bucket/dir/", URI{Kind: KindObject, Bucket: "bucket", Key: "dir/"}},
	} {
		got, err := ParseURI(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseURI(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "runs:/", "runs://", "models:/", "/key", "http://host/x", "s3://", "gs://b/k", "c:/x"} {
		if _, err := ParseURI(in); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("ParseURI(%q): %v, want ErrInvalidURI", in, err)
		}
	}
}

func TestURI_String(t *testing.T) {
	for _, s := range []string{"runs:/r/a/b", "models:/m", "models:/m/x", "b/k"} {
		u, err := ParseURI(s)
		if err != nil || u.String() != s {
			t.Errorf("%q: round trip gave %q, %v", s, u.String(), err)
		}
	}
}

func TestAPIError_Is(t *testing.T) {
	for _, tc := range []struct {
		err  *APIError
		want error
	}{
		{&APIError{404, "NoSuchKey", ""}, ErrNotFound},
		{&APIError{404, "NoSuchBucket", ""}, ErrNotFound},
		{&APIError{404, "NoSuchChunk", ""}, ErrNotFound},
		{&APIError{404, "NotFound", ""}, ErrNotFound},
		{&APIError{412, "PreconditionFailed", ""}, ErrPreconditionFailed},
		{&APIError{409, "Conflict", ""}, ErrConflict},
		{&APIError{409, "BucketAlreadyOwnedByYou", ""}, ErrConflict},
		{&APIError{503, "OutcomeUnknown", ""}, ErrUnknownOutcome},
		{&APIError{503, "ServiceUnavailable", ""}, ErrUnavailable},
		{&APIError{401, "Unauthorized", ""}, ErrUnauthorized},
		{&APIError{400, "BadDigest", ""}, ErrDigestMismatch},
		{&APIError{400, "InvalidKey", ""}, ErrInvalidRequest},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%v is not %v", tc.err, tc.want)
		}
	}
	if errors.Is(&APIError{404, "NoSuchRoute", ""}, ErrNotFound) {
		t.Error("NoSuchRoute matches ErrNotFound; a missing route is not a missing key")
	}
	if errors.Is(&APIError{503, "OutcomeUnknown", ""}, ErrUnavailable) {
		t.Error("OutcomeUnknown matches ErrUnavailable")
	}
}
