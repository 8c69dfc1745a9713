package raftfsm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func listFixture(t *testing.T, keys ...string) *testFSM {
	t.Helper()
	h := newTestFSM(t)
	h.ok(t, &CreateBucket{Bucket: "bkt"})
	h.ok(t, &CreateBucket{Bucket: "bkt2"}) // a neighbour whose keys must never show
	h.ok(t, &PutObject{Bucket: "bkt2", Key: "a/zzz", File: smallFile("x")})
	logs := make([]*raft.Log, 0, len(keys))
	for _, k := range keys {
		logs = append(logs, entry(t, h.next()+uint64(len(logs)), 1, &PutObject{Bucket: "bkt", Key: k, File: smallFile(k)}))
	}
	h.log = append(h.log, logs...)
	feedBatches(t, h, logs, 64)
	return h
}

// page is a List result in a form that compares well.
type page struct {
	Entries   []string // objects as keys, common prefixes with a "P:" mark
	Truncated bool
	Next      string
}

func listPage(t *testing.T, s *State, bucket string, opt ListOptions) page {
	t.Helper()
	res, err := s.List(bucket, opt)
	if err != nil {
		t.Fatalf("list %+v: %v", opt, err)
	}
	var p page
	// Merge objects and prefixes back into key order.
	i, j := 0, 0
	for i < len(res.Objects) || j < len(res.CommonPrefixes) {
		if j == len(res.CommonPrefixes) || i < len(res.Objects) && res.Objects[i].Key < res.CommonPrefixes[j] {
			p.Entries = append(p.Entries, res.Objects[i].Key)
			i++
		} else {
			p.Entries = append(p.Entries, "P:"+res.CommonPrefixes[j])
			j++
		}
	}
	for _, o := range res.Objects {
		if o.Bucket != bucket {
			t.Fatalf("list of %s returned %s/%s", bucket, o.Bucket, o.Key)
		}
	}
	p.Truncated, p.Next = res.Truncated, res.Next
	return p
}

// modelList is List by brute force over the sorted keys of a bucket.
func modelList(keys []string, opt ListOptions) page {
	limit := opt.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	p, d, sa := opt.Prefix, opt.Delimiter, opt.StartAfter
	// A StartAfter that ends a common prefix skips what is under it.
	saPrefix := d != "" && strings.HasPrefix(sa, p) && strings.HasSuffix(sa, d) && strings.Contains(sa[len(p):], d)
	var all []string
	for _, k := range keys {
		if !strings.HasPrefix(k, p) || sa != "" && k <= sa || saPrefix && strings.HasPrefix(k, sa) {
			continue
		}
		if d != "" {
			if i := strings.Index(k[len(p):], d); i >= 0 {
				cp := "P:" + k[:len(p)+i+len(d)]
				if len(all) == 0 || all[len(all)-1] != cp {
					all = append(all, cp)
				}
				continue
			}
		}
		all = append(all, k)
	}
	var out page
	if len(all) > limit {
		all, out.Truncated = all[:limit], true
	}
	out.Entries = all
	if len(all) > 0 {
		out.Next = strings.TrimPrefix(all[len(all)-1], "P:")
	}
	return out
}

// TestList covers prefixes, delimiters, StartAfter (a key, a common
// prefix, before and past the prefix) and limits on a fixed key set.
func TestList(t *testing.T) {
	keys := []string{"a", "a/b", "a/c/d", "a/c/e", "a/c/f/g", "ab", "b", "b/x", "c/", "c//d", "d"}
	h := listFixture(t, keys...)
	cases := []struct {
		name string
		opt  ListOptions
		want page
	}{
		{"All", ListOptions{}, page{Entries: keys, Next: "d"}},
		{"Prefix", ListOptions{Prefix: "a/"}, page{Entries: []string{"a/b", "a/c/d", "a/c/e", "a/c/f/g"}, Next: "a/c/f/g"}},
		{"PrefixNoMatch", ListOptions{Prefix: "zz"}, page{}},
		{"Delimiter", ListOptions{Delimiter: "/"}, page{Entries: []string{"a", "P:a/", "ab", "b", "P:b/", "P:c/", "d"}, Next: "d"}},
		{"PrefixDelimiter", ListOptions{Prefix: "a/", Delimiter: "/"}, page{Entries: []string{"a/b", "P:a/c/"}, Next: "a/c/"}},
		{"DeeperPrefix", ListOptions{Prefix: "a/c/", Delimiter: "/"}, page{Entries: []string{"a/c/d", "a/c/e", "P:a/c/f/"}, Next: "a/c/f/"}},
		{"EmptySegment", ListOptions{Prefix: "c/", Delimiter: "/"}, page{Entries: []string{"c/", "P:c//"}, Next: "c//"}},
		{"KeyIsPrefix", ListOptions{Prefix: "c/", Delimiter: "//"}, page{Entries: []string{"c/", "c//d"}, Next: "c//d"}},
		{"StartAfterKey", ListOptions{StartAfter: "a/c/d", Limit: 3}, page{Entries: []string{"a/c/e", "a/c/f/g", "ab"}, Truncated: true, Next: "ab"}},
		{"StartAfterMissingKey", ListOptions{StartAfter: "a/bb"}, page{Entries: keys[2:], Next: "d"}},
		{"StartAfterPrefix", ListOptions{Delimiter: "/", StartAfter: "a/"}, page{Entries: []string{"ab", "b", "P:b/", "P:c/", "d"}, Next: "d"}},
		{"StartAfterBeforePrefix", ListOptions{Prefix: "b", StartAfter: "a/b"}, page{Entries: []string{"b", "b/x"}, Next: "b/x"}},
		{"StartAfterPastPrefix", ListOptions{Prefix: "a/", StartAfter: "b"}, page{}},
		{"ExactLimit", ListOptions{Prefix: "b", Limit: 2}, page{Entries: []string{"b", "b/x"}, Next: "b/x"}},
		{"Limit", ListOptions{Delimiter: "/", Limit: 2}, page{Entries: []string{"a", "P:a/"}, Truncated: true, Next: "a/"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := listPage(t, h.s, "bkt", tc.opt); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("list %+v\n got %+v\nwant %+v", tc.opt, got, tc.want)
			}
			if got := modelList(keys, tc.opt); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("the model disagrees with the table: %+v", got)
			}
		})
	}
	t.Run("NoSuchBucket", func(t *testing.T) {
		if _, err := h.s.List("nope", ListOptions{}); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("list of a missing bucket: %v", err)
		}
	})
}

// TestList_Model compares List with a brute-force model over random keys
// made of ASCII, '/' runs and multi-byte runes up to U+10FFFF (whose
// UTF-8 holds the bytes 0xbf, 0xef and 0xf4 that sort above ASCII), for
// every page size 1 to 5 and many prefixes, delimiters and start points:
// pages read one after the other through Next give the model's listing,
// each entry once.
func TestList_Model(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("Seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			atoms := []string{"a", "b", "/", "/", "//", "é", "\u00ff", "\uffff", "\U0010ffff", "~", "0"}
			seen := map[string]bool{}
			var keys []string
			for len(keys) < 90 {
				var b strings.Builder
				for range 1 + r.IntN(6) {
					b.WriteString(atoms[r.IntN(len(atoms))])
				}
				if k := b.String(); !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
			h := listFixture(t, keys...)
			slices.Sort(keys)
			prefixes := []string{"", "a", "a/", "/", "é", "\uffff", "\U0010ffff"}
			for range 3 {
				k := keys[r.IntN(len(keys))]
				prefixes = append(prefixes, k[:r.IntN(len(k)+1)])
			}
			starts := []string{"", "0", "a/", "b", "\U0010ffff\U0010ffff", keys[r.IntN(len(keys))], keys[r.IntN(len(keys))] + "/"}
			for _, p := range prefixes {
				for _, d := range []string{"", "/", "//", "é"} {
					opt := ListOptions{Prefix: p, Delimiter: d}
					full := modelList(keys, opt)
					if got := listPage(t, h.s, "bkt", opt); !reflect.DeepEqual(got, full) {
						t.Fatalf("list %#v\n got %#v\nwant %#v", opt, got, full)
					}
					for size := 1; size <= 5; size++ {
						paginate(t, h.s, opt, size, full.Entries)
					}
					for _, sa := range starts {
						opt := ListOptions{Prefix: p, Delimiter: d, StartAfter: sa, Limit: 1 + r.IntN(5)}
						if got, want := listPage(t, h.s, "bkt", opt), modelList(keys, opt); !reflect.DeepEqual(got, want) {
							t.Fatalf("list %#v\n got %#v\nwant %#v", opt, got, want)
						}
					}
				}
			}
		})
	}
}

// paginate lists page by page through Next and checks that the pages
// put together are want.
func paginate(t *testing.T, s *State, opt ListOptions, size int, want []string) {
	t.Helper()
	opt.Limit = size
	var all []string
	for pages := 0; ; pages++ {
		if pages > len(want)+1 {
			t.Fatalf("list %#v: pagination does not end", opt)
		}
		p := listPage(t, s, "bkt", opt)
		if len(p.Entries) > size {
			t.Fatalf("list %#v: %d entries on a page of %d", opt, len(p.Entries), size)
		}
		all = append(all, p.Entries...)
		if !p.Truncated {
			break
		}
		opt.StartAfter = p.Next
	}
	if !slices.Equal(all, want) && !(len(all) == 0 && len(want) == 0) {
		t.Fatalf("pages of %d for %#v\n got %#v\nwant %#v", size, opt, all, want)
	}
}
