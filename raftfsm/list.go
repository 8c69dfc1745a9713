package raftfsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// DefaultListLimit is how many entries List returns when asked for none.
const DefaultListLimit = 1000

// ListOptions select a page of a bucket's keys.
type ListOptions struct {
	Prefix    string
	Delimiter string // keys with it after Prefix roll up into common prefixes
	// StartAfter resumes after a key or a common prefix, such as the Next
	// of the page before.
	StartAfter string
	Limit      int // entries per page, counting common prefixes
}

// ListResult is a page of keys in key order.
type ListResult struct {
	Objects        []Object
	CommonPrefixes []string
	Truncated      bool
	// Next is the last key or common prefix of the page: the StartAfter
	// of the next page.
	Next string
}

// List returns a page of the objects of bucket. It scans the key range of
// the prefix only, and seeks past each common prefix instead of reading
// the keys under it.
func (s *State) List(bucket string, opt ListOptions) (ListResult, error) {
	var res ListResult
	limit := opt.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	base := objectKey(bucket, "")
	err := s.f.view(func(x *txn) error {
		if b, err := x.bucket(bucket); err != nil || b == nil {
			if err == nil {
				err = fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
			}
			return err
		}
		prefix := objectKey(bucket, opt.Prefix)
		it := x.t.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		// A StartAfter before the prefix must not seek before it: the
		// iterator would stop at the first key outside the prefix.
		from := prefix
		if opt.StartAfter != "" {
			if after := seekAfter(base, opt); bytes.Compare(after, prefix) > 0 {
				from = after
			}
		}
		it.Seek(from)
		n := 0
		for it.Valid() {
			if n == limit {
				res.Truncated = true
				return nil
			}
			k := string(it.Item().Key()[len(base):])
			if opt.Delimiter != "" {
				if i := strings.Index(k[len(opt.Prefix):], opt.Delimiter); i >= 0 {
					cp := k[:len(opt.Prefix)+i+len(opt.Delimiter)]
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					res.Next = cp
					n++
					end := prefixEnd(objectKey(bucket, cp))
					if end == nil {
						return nil
					}
					it.Seek(end)
					continue
				}
			}
			var o Object
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &o) }); err != nil {
				return err
			}
			res.Objects = append(res.Objects, o)
			res.Next = k
			n++
			it.Next()
		}
		return nil
	})
	return res, err
}

// seekAfter returns the first state key after opt.StartAfter: past every
// key under it when it is a common prefix, else just past it.
func seekAfter(base []byte, opt ListOptions) []byte {
	sa := opt.StartAfter
	if opt.Delimiter != "" && strings.HasPrefix(sa, opt.Prefix) && strings.HasSuffix(sa, opt.Delimiter) &&
		strings.Contains(sa[len(opt.Prefix):], opt.Delimiter) {
		if end := prefixEnd(append(append([]byte(nil), base...), sa...)); end != nil {
			return end
		}
	}
	k := append(append([]byte(nil), base...), sa...)
	return append(k, 0)
}
