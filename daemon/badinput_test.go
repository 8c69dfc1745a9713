package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"cairn/cas/chunk"
	"cairn/client"
)

// snapshotState returns the node's state and store counters, to prove a
// rejected request changed nothing.
func snapshotState(t *testing.T, srv *Server) string {
	t.Helper()
	var b bytes.Buffer
	if err := srv.Node().State().Dump(&b); err != nil {
		t.Fatal(err)
	}
	st, _ := srv.Store().Stats(t.Context())
	return fmt.Sprintf("%s\n%+v", b.String(), st)
}

func TestServer_BadInput(t *testing.T) {
	srv := newTestServer(t)
	mkBucket(t, srv, "bucket")
	putBytes(t, srv, "bucket", "keep/me", []byte("precious"))
	waitFeatures(t, srv) // commits of several files
	before := snapshotState(t, srv)
	good := chunk.Sum([]byte("x"))
	kept := chunk.Sum([]byte("precious")) // stored, as keep/me
	commit := func(req any) string {
		b, _ := json.Marshal(req)
		return string(b)
	}
	one := client.CommitRequest{Digest: good, Size: 1, Chunks: []chunk.Ref{{Digest: good, Size: 1}}}
	many := func(keys ...string) string {
		var req client.CommitManyRequest
		for _, k := range keys {
			req.Objects = append(req.Objects, client.CommitObject{Key: k, CommitRequest: one})
		}
		return commit(req)
	}
	tooMany := make([]string, client.MaxCommitMany+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("k%d", i)
	}
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"MalformedJSON", "POST", "/v1/commit/bucket/k", `{"digest": "`, 400, "MalformedJSON"},
		{"UnknownField", "POST", "/v1/commit/bucket/k", `{"bogus": 1}`, 400, "MalformedJSON"},
		{"TrailingJSON", "POST", "/v1/chunks/missing", `{"digests":[]} {}`, 400, "MalformedJSON"},
		{"ShortDigestInBody", "POST", "/v1/chunks/missing", `{"digests":["abcd"]}`, 400, "MalformedJSON"},
		{"ShortDigestInPath", "PUT", "/v1/chunks/abcd", "x", 400, "InvalidDigest"},
		{"LongDigestInPath", "GET", "/v1/chunks/" + good.String() + "00", "", 400, "InvalidDigest"},
		{"ChunkNotMatchingDigest", "PUT", "/v1/chunks/" + good.String(), "y", 400, "BadDigest"},
		{"DotDotKey", "PUT", "/v1/objects/bucket/a/../b", "data", 400, "InvalidArgument"},
		{"DotDotEscaped", "PUT", "/v1/objects/bucket/a/%2E%2E/b", "data", 400, "InvalidArgument"},
		{"NULKey", "PUT", "/v1/objects/bucket/a%00b", "data", 400, "InvalidArgument"},
		{"LongKey", "PUT", "/v1/objects/bucket/" + strings.Repeat("k", 1025), "data", 400, "KeyTooLongError"},
		{"NoSuchBucket", "PUT", "/v1/objects/nobucket/k", "data", 404, "NoSuchBucket"},
		{"MissingChunks", "POST", "/v1/commit/bucket/k", commit(client.CommitRequest{Digest: good, Size: 1, Chunks: []chunk.Ref{{Digest: good, Size: 1}}}), 400, "MissingChunks"},
		{"SizeMismatch", "POST", "/v1/commit/bucket/k", commit(client.CommitRequest{Digest: good, Size: 5, Chunks: []chunk.Ref{{Digest: good, Size: 1}}}), 400, "InvalidRequest"},
		{"ZeroChunk", "POST", "/v1/commit/bucket/k", commit(client.CommitRequest{Digest: good, Size: 0, Chunks: []chunk.Ref{{Digest: good, Size: 0}}}), 400, "InvalidRequest"},
		{"CommitDotDot", "POST", "/v1/commit/bucket/x/../y", commit(client.CommitRequest{}), 400, "InvalidArgument"},
		{"StoredUnknown", "POST", "/v1/commit/bucket/k", commit(client.CommitRequest{Digest: good, Size: 1, Stored: true}), 404, "NoSuchFile"},
		{"StoredWrongSize", "POST", "/v1/commit/bucket/k", commit(client.CommitRequest{Digest: kept, Size: 9, Stored: true}), 404, "NoSuchFile"},
		{"StoredWithChunks", "POST", "/v1/commit/bucket/k", commit(client.CommitRequest{Digest: kept, Size: 8, Stored: true, Chunks: []chunk.Ref{{Digest: kept, Size: 8}}}), 400, "InvalidRequest"},
		{"StoredDotDot", "POST", "/v1/commit/bucket/x/../y", commit(client.CommitRequest{Digest: kept, Size: 8, Stored: true}), 400, "InvalidArgument"},
		{"StoredNoSuchBucket", "POST", "/v1/commit/nobucket/k", commit(client.CommitRequest{Digest: kept, Size: 8, Stored: true}), 404, "NoSuchBucket"},
		{"ManyStoredUnknown", "POST", "/v1/commit/bucket/", commit(client.CommitManyRequest{Objects: []client.CommitObject{{Key: "a", CommitRequest: one}, {Key: "b", CommitRequest: client.CommitRequest{Digest: good, Size: 1, Stored: true}}}}), 404, "NoSuchFile"},
		{"RefBadJSON", "PUT", "/v1/refs/prod", `{"target": 5}`, 400, "MalformedJSON"},
		{"ListForString", "POST", "/v1/chunks/missing", `{"digests": "abc"}`, 400, "MalformedJSON"},
		{"NumberForDigest", "POST", "/v1/chunks/missing", `{"digests": [5]}`, 400, "MalformedJSON"},
		{"StringForSize", "POST", "/v1/commit/bucket/k", `{"size": "5"}`, 400, "MalformedJSON"},
		{"ListForObject", "POST", "/v1/commit/bucket/k", `[1]`, 400, "MalformedJSON"},
		{"EmptyJSON", "POST", "/v1/commit/bucket/k", ``, 400, "MalformedJSON"},
		{"InvalidBucketName", "PUT", "/v1/buckets/A_B", "", 400, "InvalidRequest"},
		{"ManyMalformedJSON", "POST", "/v1/commit/bucket/", `{"objects": [`, 400, "MalformedJSON"},
		{"ManyUnknownField", "POST", "/v1/commit/bucket/", `{"objects": [{"bogus": 1}]}`, 400, "MalformedJSON"},
		{"ManyNone", "POST", "/v1/commit/bucket/", `{"objects": []}`, 400, "InvalidRequest"},
		{"ManyTooMany", "POST", "/v1/commit/bucket/", many(tooMany...), 400, "InvalidRequest"},
		{"ManyKeyTwice", "POST", "/v1/commit/bucket/", many("a", "b", "a"), 400, "InvalidRequest"},
		{"ManyDotDot", "POST", "/v1/commit/bucket/", many("a", "x/../y"), 400, "InvalidArgument"},
		{"ManyMissingChunks", "POST", "/v1/commit/bucket/", many("a", "b"), 400, "MissingChunks"},
		{"ManyNoSuchBucket", "POST", "/v1/commit/nobucket/", many("a"), 404, "NoSuchBucket"},
		{"ManyNoBucket", "POST", "/v1/commit/", many("a"), 400, "InvalidRequest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e client.Error
			req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.status || e.Code != tc.code || e.Message == "" {
				t.Fatalf("%s %s: %d %+v, want %d %s", tc.method, tc.path, resp.StatusCode, e, tc.status, tc.code)
			}
			if goTypeRE.MatchString(e.Message) {
				t.Fatalf("%s %s: the message names Go's types: %q", tc.method, tc.path, e.Message)
			}
		})
	}
	t.Run("ShortBody", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT /v1/objects/bucket/short HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat("z", 5000))
		conn.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		var e client.Error
		json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != 400 || e.Code != "IncompleteBody" {
			t.Fatalf("short body: %d %+v", resp.StatusCode, e)
		}
	})
	// The chunk uploaded by a rejected body may be stored (it is garbage
	// for GC), but the namespace must not have changed.
	after := snapshotState(t, srv)
	if stateOf(before) != stateOf(after) {
		t.Fatalf("rejected requests changed the state:\n%s\n---\n%s", before, after)
	}
	var got bytes.Buffer
	resp, err := http.Get(objURL(srv, "bucket", "keep/me"))
	if err != nil {
		t.Fatal(err)
	}
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if got.String() != "precious" {
		t.Fatalf("existing object reads %q", got.String())
	}
}

// goTypeRE matches what Go's errors say of Go's types, which a user of
// the API cannot act on: "Go struct field", "of type int",
// "*errors.errorString", "strconv.ParseInt:", "chunk.Digest".
var goTypeRE = regexp.MustCompile(`Go (struct field|value)|of type |\*?\b[a-z][a-z0-9]*\.[A-Z]\w*|strconv\.|errorString|json: |xml: `)

// stateOf drops the store counters from a snapshot: rejected uploads may
// leave unreferenced chunks behind, which GC reclaims.
func stateOf(s string) string { return s[:strings.LastIndex(s, "\n")] }
