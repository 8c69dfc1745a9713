package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"cairn/cas/chunk"
	"cairn/client"
)

// File names of a backup: <name>.snap holds the state, <name>.json its
// manifest, written last, so that a backup with a manifest is complete.
const (
	snapExt         = ".snap"
	manifestExt     = ".json"
	autoNamePrefix  = "cairn-"
	manifestFormat  = 1
	autoNameTimeFmt = "20060102T150405.000Z"
)

// errBackupBad is what backup verify (and restore) return for a backup
// that does not check out; it exits 4, like a digest mismatch.
var errBackupBad = errors.New("backup does not check out")

// backupManifest is <name>.json: what the snapshot beside it is, and how
// to check it.
type backupManifest struct {
	Format   int       `json:"format"`
	Snapshot string    `json:"snapshot"`
	Time     time.Time `json:"time"`
	Cluster  struct {
		Leader string   `json:"leader"`
		Nodes  []string `json:"nodes"`
	} `json:"cluster"`
	Index      uint64       `json:"index"`
	Term       uint64       `json:"term"`
	Size       int64        `json:"size"`
	SHA256     string       `json:"sha256"`
	BLAKE3     chunk.Digest `json:"blake3"` // the stream's own trailer
	Objects    int          `json:"objects"`
	Chunks     int          `json:"chunks"`
	ChunkBytes int64        `json:"chunk_bytes"`
	// WithChunks: every chunk the snapshot references was in the repo's
	// chunks/ folder when the manifest was written.
	WithChunks bool `json:"with_chunks"`
}

func manifestName(snap string) string { return strings.TrimSuffix(snap, snapExt) + manifestExt }

func backupCommand() *command {
	return &command{
		name: "backup", minArgs: 2, maxArgs: 2,
		synopsis: "create <dest> | verify <src> | restore <src>",
		summary:  "back up the cluster's state (and its chunks), check a backup, restore one",
		detail: `create writes a point-in-time snapshot of the state (buckets, objects, runs,
models, refs, access keys with their secrets sealed) to <dest>: a file
(name.snap, with its manifest name.json beside it), a folder (one that
exists, or a path ending in /; the name is cairn-<UTC time>.snap), - for
stdout (the snapshot alone), or
s3://bucket/prefix on an S3 store. With --with-chunks it also copies every
chunk the snapshot references into chunks/ beside it, named by digest:
chunks already there are skipped, so later backups copy only new chunks.

verify checks a backup without a cluster: the manifest's checksum, that the
snapshot parses and ends with its digest, and (for a backup with chunks)
that every referenced chunk is there and hashes to its digest. It exits 4
on any problem. <src> is a .snap or .json file, or a folder or s3:// prefix
(its newest backup).

restore replaces the cluster's state with the backup's (send it to a new or
wiped cluster: writes since the backup are lost), uploads the chunks the
backup holds that the cluster lacks, and lists the objects whose chunks are
still missing (exit 1 if any). It needs an admin key.`,
		example: `cairn backup create /var/backups/cairn/ --with-chunks
cairn backup create s3://backups/cairn --s3-endpoint http://10.0.0.9:9000 --with-chunks
cairn backup verify /var/backups/cairn/
cairn backup restore /var/backups/cairn/cairn-20261206T020000.000Z.snap`,
		flags: func(fs *flag.FlagSet) action {
			var o backupOptions
			fs.BoolVar(&o.withChunks, "with-chunks", false, "create: copy the chunks the snapshot references too (incremental)")
			fs.IntVar(&o.jobs, "j", 8, "chunks copied, checked or uploaded at once")
			o.s3.declare(fs, "CAIRN_BACKUP")
			return func(ctx context.Context, s *session, args []string) error {
				if o.jobs < 1 {
					return usagef("backup: -j must be at least 1")
				}
				switch args[0] {
				case "create":
					return s.backupCreate(ctx, args[1], &o)
				case "verify":
					return s.backupVerify(ctx, args[1], &o)
				case "restore":
					return s.backupRestore(ctx, args[1], &o)
				}
				return usagef("backup: want create, verify or restore, not %q", args[0])
			}
		},
	}
}

type backupOptions struct {
	withChunks bool
	jobs       int
	s3         s3Flags
}

// backupResult is what backup create prints.
type backupResult struct {
	Location string `json:"location"`
	backupManifest
	CopiedChunks  int   `json:"copied_chunks"`
	CopiedBytes   int64 `json:"copied_bytes"`
	SkippedChunks int   `json:"skipped_chunks"`
}

func (s *session) backupCreate(ctx context.Context, dest string, o *backupOptions) error {
	var r repo
	var name string
	if dest != "-" {
		var err error
		if r, name, err = s.openRepo(dest, &o.s3); err != nil {
			return err
		}
		if strings.HasSuffix(name, manifestExt) {
			return usagef("backup create: %s is a manifest's name; name the snapshot (.snap) or a folder", dest)
		}
		if name == "" {
			name = autoNamePrefix + time.Now().UTC().Format(autoNameTimeFmt) + snapExt
		}
	} else if o.withChunks {
		return usagef("backup create: --with-chunks needs a folder or s3:// destination, not stdout")
	}
	tmp, err := os.CreateTemp("", "cairn-backup-*"+snapExt)
	if err != nil {
		return fmt.Errorf("backup create: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	size, err := s.c.Admin().Backup(ctx, io.MultiWriter(tmp, h))
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup create: %w", err)
	}
	info, err := client.ScanBackup(tmp)
	if err != nil {
		return fmt.Errorf("backup create: the cluster sent %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup create: %w", err)
	}
	if dest == "-" {
		if _, err := io.Copy(s.env.Stdout, tmp); err != nil {
			return fmt.Errorf("backup create: write to stdout: %w", err)
		}
		return nil
	}
	m := backupManifest{Format: manifestFormat, Snapshot: name, Time: time.Now().UTC(), Index: info.Index, Term: info.Term,
		Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), BLAKE3: info.Digest, Objects: info.Objects,
		Chunks: len(info.Chunks), ChunkBytes: info.ChunkBytes(), WithChunks: o.withChunks}
	if st, err := s.c.Admin().ClusterStatus(ctx); err == nil {
		m.Cluster.Leader = st.Leader
		for _, n := range st.Nodes {
			m.Cluster.Nodes = append(m.Cluster.Nodes, n.ID)
		}
	}
	res := backupResult{Location: locationOf(r, name), backupManifest: m}
	if o.withChunks {
		cs, err := s.copyChunks(ctx, r, info.Chunks, o.jobs)
		res.CopiedChunks, res.CopiedBytes, res.SkippedChunks = cs.copied, cs.bytes, cs.skipped
		if err != nil {
			return fmt.Errorf("backup create: %d chunks copied to %s before: %w", cs.copied, r, err)
		}
	}
	if err := r.put(ctx, name, tmp, size); err != nil {
		return fmt.Errorf("backup create: write %s: %w", res.Location, err)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup create: %w", err)
	}
	mb = append(mb, '\n')
	if err := r.put(ctx, manifestName(name), strings.NewReader(string(mb)), int64(len(mb))); err != nil {
		return fmt.Errorf("backup create: write the manifest of %s: %w", res.Location, err)
	}
	s.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "backed up %d objects (applied index %d, %s) to %s\n", m.Objects, m.Index, humanBytes(m.Size), res.Location)
		if o.withChunks {
			fmt.Fprintf(w, "chunks: %d referenced (%s); copied %d (%s), %d already there\n",
				m.Chunks, humanBytes(m.ChunkBytes), res.CopiedChunks, humanBytes(res.CopiedBytes), res.SkippedChunks)
		}
	})
	return nil
}

func locationOf(r repo, name string) string {
	if l, ok := r.(localRepo); ok {
		return l.path(name)
	}
	return r.String() + name
}
