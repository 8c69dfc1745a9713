package apierr

import (
	"errors"
	"net/http"
	"slices"
)

// Elem is a detail of an error besides its code and message: what it
// concerns (the key, the bucket, the upload) or what was wrong (the
// argument, the condition). Names are S3's error elements (Key,
// BucketName, UploadId, ArgumentName, Condition, ...); a surface writes
// those it has a place for.
type Elem struct {
	Name, Value string
}

// detailed is an error with elements attached.
type detailed struct {
	err   error
	elems []Elem
}

func (d *detailed) Error() string { return d.err.Error() }
func (d *detailed) Unwrap() error { return d.err }

// With returns err with elems attached; errors.Is, errors.As and
// Classify see through it. A nil err stays nil.
func With(err error, elems ...Elem) error {
	if err == nil || len(elems) == 0 {
		return err
	}
	return &detailed{err: err, elems: elems}
}

// Elems returns the elements attached to err and to the errors it wraps,
// outermost first. Where a name is given more than once, the outermost
// value wins: the caller that knows more overrides the one below it.
func Elems(err error) []Elem {
	var out []Elem
	var d *detailed
	for e := err; errors.As(e, &d); e = d.err {
		for _, el := range d.elems {
			if !slices.ContainsFunc(out, func(o Elem) bool { return o.Name == el.Name }) {
				out = append(out, el)
			}
		}
	}
	return out
}

// ElemOf returns the value of the element named name attached to err, and
// whether there is one.
func ElemOf(err error, name string) (string, bool) {
	for _, el := range Elems(err) {
		if el.Name == name {
			return el.Value, true
		}
	}
	return "", false
}

// InvalidArgument returns a 400 InvalidArgument naming the argument and
// the value that was refused.
func InvalidArgument(name, value, format string, args ...any) error {
	return With(BadRequest("InvalidArgument", format, args...), Elem{"ArgumentName", name}, Elem{"ArgumentValue", value})
}

// NotImplemented returns a 501 NotImplemented naming the header whose
// value asks for what cairn does not do.
func NotImplemented(header, format string, args ...any) error {
	return With(New(http.StatusNotImplemented, "NotImplemented", format, args...), Elem{"Header", header})
}
