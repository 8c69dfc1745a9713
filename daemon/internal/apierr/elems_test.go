package apierr

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"cairn/raftfsm"
)

// TestElems shows that elements attached at several levels of a chain
// all come out, the outermost first and winning a repeated name, and that
// Classify and errors.Is see through them.
func TestElems(t *testing.T) {
	inner := With(fmt.Errorf("lookup: %w", raftfsm.ErrNotFound), Elem{"Key", "dst"}, Elem{"Resource", "/b/dst"})
	outer := With(fmt.Errorf("copy: %w", inner), Elem{"Key", "src"}, Elem{"BucketName", "b"})
	want := []Elem{{"Key", "src"}, {"BucketName", "b"}, {"Resource", "/b/dst"}}
	if got := Elems(outer); !reflect.DeepEqual(got, want) {
		t.Fatalf("Elems = %v, want %v", got, want)
	}
	if v, ok := ElemOf(outer, "Resource"); !ok || v != "/b/dst" {
		t.Fatalf("ElemOf Resource = %q %v", v, ok)
	}
	if _, ok := ElemOf(outer, "UploadId"); ok {
		t.Fatal("ElemOf found an element nobody attached")
	}
	if e := Classify(outer); e.Code != "NoSuchKey" || e.Status != 404 || e.Message != "copy: lookup: raftfsm: not found" {
		t.Fatalf("Classify = %+v", e)
	}
	if !errors.Is(outer, raftfsm.ErrNotFound) {
		t.Fatal("errors.Is does not see through")
	}
	if With(nil, Elem{"Key", "k"}) != nil || Elems(errors.New("plain")) != nil {
		t.Fatal("nil and plain errors have no elements")
	}
	arg := InvalidArgument("versionId", "v", "invalid version id specified")
	if e := Classify(arg); e.Code != "InvalidArgument" || e.Status != 400 ||
		!reflect.DeepEqual(Elems(arg), []Elem{{"ArgumentName", "versionId"}, {"ArgumentValue", "v"}}) {
		t.Fatalf("InvalidArgument: %+v %v", e, Elems(arg))
	}
}
