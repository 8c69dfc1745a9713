// Package apierr is the error model of cairn's HTTP surfaces. Handlers
// return errors; each surface has one function that writes an error in its
// own wire form (S3's XML, MLflow's JSON, the native API's JSON), and all
// of them ask Classify for the status and the machine-readable code.
//
// # Request errors
//
// An *Error is a request the daemon refuses: it carries its status and
// code. Sentinels of the daemon's own layers are *Error values too, so
// that errors.Is finds them and Classify needs no table entry for them.
//
// # Elements
//
// With attaches elements to an error: what it concerns (S3's Key,
// BucketName, UploadId) or what was wrong (ArgumentName and
// ArgumentValue, Condition, Header, ...). They travel up the chain with
// the error, the outermost winning a repeated name, so that the caller
// that knows better (the source of a copy) can name it. A surface writes
// those its wire form has a place for.
//
// # Errors of the stores
//
// cas, raftfsm and sigv4 know nothing of HTTP. Classify maps their
// sentinels to a status and a code in one table; anything it does not know
// is 500 InternalError.
//
// It knows HTTP statuses and S3's error codes; it must not know how any
// surface writes an error.
package apierr
