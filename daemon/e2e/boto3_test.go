//go:build e2e

package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBoto3 drives the node with Debian's boto3 1.26 configured as
// MLflow's S3 artifact repository configures it: upload_file under and
// over the 8 MiB multipart threshold, head_object, download_file with
// ranged parallel GETs, and the ListObjectsV2 paginator with
// Delimiter='/' and encoding-type=url.
func TestBoto3(t *testing.T) {
	n := StartNode(t)
	env := n.ClientEnv(t)
	const run = "abcdefabcdefabcdefabcdefabcdef01"
	dir := modelDir(t, run)
	big := bigFile(t)
	files := []string{filepath.Join(dir, "MLmodel"), filepath.Join(dir, "model.xgb"), filepath.Join(dir, "trained.json"),
		filepath.Join(dir, "requirements.txt"), big}
	prefix := "5/" + run + "/artifacts/model with space+plus/"
	out := Run(t, env, "/usr/bin/python3", append([]string{testdata(t, "boto3_flow.py"), n.URL(), "boto3", prefix, t.TempDir()}, files...)...)
	var res struct {
		Objects map[string]struct {
			ETag       string
			Size       int64
			Blake3     string
			Metadata   map[string]string
			Downloaded string
		}
		RangedGets int `json:"ranged_gets"`
		Listing    struct {
			Root     string
			Keys     []string
			Prefixes []string
		}
		Missing string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	for _, f := range files {
		key := prefix + filepath.Base(f)
		o, ok := res.Objects[key]
		want := B3(t, f)
		if !ok || o.Blake3 != want || len(o.Metadata) != 0 || B3(t, o.Downloaded) != want || n.Digest("boto3", key) != want {
			t.Fatalf("%s: %+v, want digest %s", key, o, want)
		}
		if multipart := strings.HasSuffix(o.ETag, `-2"`); multipart != (f == big) {
			t.Fatalf("%s: ETag %s; only the file over 8 MiB goes multipart", key, o.ETag)
		}
	}
	if res.RangedGets < 2 {
		t.Fatalf("download_file sent %d ranged GETs for the file over 8 MiB", res.RangedGets)
	}
	if res.Listing.Root != "5/"+run+"/artifacts/" || len(res.Listing.Keys) != 0 || !slices.Equal(res.Listing.Prefixes, []string{prefix}) {
		t.Fatalf("paginated listing %+v", res.Listing)
	}
	if res.Missing != "404" {
		t.Fatalf("head of a missing key: %q", res.Missing)
	}
}

// TestBoto3Fidelity checks with Debian's boto3 what cairn answers as S3
// does: non-ASCII user metadata (RFC 2047 encoded-words, which botocore
// hands over undecoded and email.header decodes), listings whose keys
// and prefixes hold a newline (botocore's encoding-type=url), and a PUT
// whose body has no length (Transfer-Encoding: chunked, a cairn
// extension: S3 answers 501).
func TestBoto3Fidelity(t *testing.T) {
	n := StartNode(t)
	out := Run(t, n.ClientEnv(t), "/usr/bin/python3", testdata(t, "boto3_fidelity.py"), n.URL(), "fidelity")
	var res struct {
		Metadata struct {
			Greeting        string
			GreetingDecoded string `json:"greeting_decoded"`
			ASCII           string
			Raw             string
			RawDecoded      string `json:"raw_decoded"`
		}
		V2 struct {
			Prefix, Delimiter string
			StartAfter        string `json:"start_after"`
			Keys, Prefixes    []string
		}
		V1 struct {
			Prefix, Marker string
			NextMarker     string `json:"next_marker"`
			Keys, Prefixes []string
		}
		Versions struct {
			Prefix    string
			KeyMarker string `json:"key_marker"`
			Keys      []string
		}
		Uploads struct {
			Prefix string
			Keys   []string
		}
		EmptyEncodingType string `json:"empty_encoding_type"`
		Chunked           struct {
			Status       int
			Answer, ETag string
			SentSHA256   string `json:"sent_sha256"`
			GotSHA256    string `json:"got_sha256"`
			GotMD5       string `json:"got_md5"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	t.Run("Metadata", func(t *testing.T) {
		m := res.Metadata
		// What AWS answers, and what boto3 therefore shows: the
		// encoded-word, which email.header decodes.
		if m.Greeting != "=?UTF-8?Q?Hello_World=C3=A9?=" || m.GreetingDecoded != "Hello Worldé" {
			t.Errorf("encoded greeting reads %q, decoded %q", m.Greeting, m.GreetingDecoded)
		}
		if m.ASCII != "abc" {
			t.Errorf("an ASCII value sent encoded reads %q, want it decoded", m.ASCII)
		}
		if m.Raw != "=?UTF-8?Q?Hello_World=C3=A9?=" || m.RawDecoded != "Hello Worldé" {
			t.Errorf("raw UTF-8 reads %q, decoded %q", m.Raw, m.RawDecoded)
		}
	})
	t.Run("Listings", func(t *testing.T) {
		v2 := res.V2
		if v2.Prefix != "nl\n" || v2.Delimiter != "/" || v2.StartAfter != "nl\n" ||
			!slices.Equal(v2.Keys, []string{"nl\nkey"}) || !slices.Equal(v2.Prefixes, []string{"nl\nsub/", "nl\né/"}) {
			t.Errorf("ListObjectsV2: %+v", v2)
		}
		// botocore does not decode V1's Prefix, against AWS too.
		v1 := res.V1
		if v1.Prefix != "nl%0A" || v1.Marker != "nl\n" || v1.NextMarker != "nl\nsub/" ||
			!slices.Equal(v1.Keys, []string{"nl\nkey"}) || !slices.Equal(v1.Prefixes, []string{"nl\nsub/"}) {
			t.Errorf("ListObjects: %+v", v1)
		}
		if vs := res.Versions; vs.Prefix != "nl\nsub/" || vs.KeyMarker != "nl\nsub/a b" || !slices.Equal(vs.Keys, []string{"nl\nsub/c+d"}) {
			t.Errorf("ListObjectVersions: %+v", vs)
		}
		if us := res.Uploads; us.Prefix != "nl\n" || !slices.Equal(us.Keys, []string{"nl\nup load+1"}) {
			t.Errorf("ListMultipartUploads: %+v", us)
		}
		if res.EmptyEncodingType != "InvalidArgument" {
			t.Errorf("EncodingType='': %s, want InvalidArgument", res.EmptyEncodingType)
		}
	})
	t.Run("ChunkedPut", func(t *testing.T) {
		c := res.Chunked
		if c.Status != 200 || c.SentSHA256 != c.GotSHA256 || c.ETag != `"`+c.GotMD5+`"` {
			t.Errorf("chunked PUT: %+v", c)
		}
	})
}
