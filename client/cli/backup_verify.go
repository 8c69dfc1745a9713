package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"cairn/cas/chunk"
	"cairn/client"
)

// backupSource is a backup to read: its repo (nil for stdin), its
// snapshot's name, and its manifest (nil when it has none).
type backupSource struct {
	r    repo
	name string
	m    *backupManifest
}

func (b backupSource) String() string {
	if b.r == nil {
		return "stdin"
	}
	return locationOf(b.r, b.name)
}

// openBackup finds the backup src names: "-" (stdin), a .snap or .json
// file, or a folder or s3:// prefix, whose newest backup named by cairn
// (cairn-<time>.json) it takes.
func (s *session) openBackup(ctx context.Context, src string, o *backupOptions) (backupSource, error) {
	if src == "-" {
		return backupSource{}, nil
	}
	r, name, err := s.openRepo(src, &o.s3)
	if err != nil {
		return backupSource{}, err
	}
	if name == "" {
		var names []string
		for e, err := range r.list(ctx, autoNamePrefix) {
			if err != nil {
				return backupSource{}, fmt.Errorf("list the backups in %s: %w", r, err)
			}
			if !strings.Contains(e.name, "/") && strings.HasSuffix(e.name, manifestExt) {
				names = append(names, e.name)
			}
		}
		if len(names) == 0 {
			return backupSource{}, fmt.Errorf("%s holds no backup (%s*%s): %w", r, autoNamePrefix, manifestExt, client.ErrNotFound)
		}
		name = slices.Max(names)
	}
	b := backupSource{r: r, name: name}
	mname := manifestName(name)
	if strings.HasSuffix(name, manifestExt) {
		mname = name
	}
	m, err := readManifest(ctx, r, mname)
	switch {
	case err == nil:
		b.m, b.name = m, m.Snapshot
	case isNoFile(err) && mname != name:
	case isNoFile(err):
		return b, fmt.Errorf("no manifest %s: %w", locationOf(r, mname), client.ErrNotFound)
	default:
		return b, err
	}
	return b, nil
}

func readManifest(ctx context.Context, r repo, name string) (*backupManifest, error) {
	rc, _, err := r.get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var m backupManifest
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("read the manifest %s: %w: %v", locationOf(r, name), errBackupBad, err)
	}
	if m.Format != manifestFormat || m.Snapshot == "" || strings.ContainsAny(m.Snapshot, `/\`) {
		return nil, fmt.Errorf("read the manifest %s: %w: not a format %d manifest", locationOf(r, name), errBackupBad, manifestFormat)
	}
	return &m, nil
}

// spoolSnapshot copies the backup's snapshot into a temporary file (the
// caller removes it), checks it against its manifest and scans it.
func (s *session) spoolSnapshot(ctx context.Context, b backupSource) (*os.File, client.BackupInfo, error) {
	var info client.BackupInfo
	var rc io.ReadCloser = io.NopCloser(s.env.Stdin)
	if b.r != nil {
		var err error
		if rc, _, err = b.r.get(ctx, b.name); err != nil {
			return nil, info, fmt.Errorf("open %s: %w", b, err)
		}
	}
	defer rc.Close()
	tmp, err := os.CreateTemp("", "cairn-restore-*"+snapExt)
	if err != nil {
		return nil, info, err
	}
	fail := func(err error) (*os.File, client.BackupInfo, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, info, err
	}
	h := sha256.New()
	size, err := io.Copy(tmp, io.TeeReader(rc, h))
	if err != nil {
		return fail(fmt.Errorf("read %s: %w", b, err))
	}
	if p := manifestProblem(b.m, size, hex.EncodeToString(h.Sum(nil))); p != "" {
		return fail(fmt.Errorf("%s: %w: %s", b, errBackupBad, p))
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if info, err = client.ScanBackup(tmp); err != nil {
		return fail(fmt.Errorf("%s: %w", b, err))
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return tmp, info, nil
}

// manifestProblem says how a snapshot of size bytes hashing to sum
// differs from its manifest ("" when it does not, or there is none).
func manifestProblem(m *backupManifest, size int64, sum string) string {
	switch {
	case m == nil:
		return ""
	case m.Size != size:
		return fmt.Sprintf("the snapshot has %d bytes, its manifest says %d", size, m.Size)
	case m.SHA256 != sum:
		return fmt.Sprintf("the snapshot's SHA-256 is %s, its manifest says %s", sum, m.SHA256)
	}
	return ""
}

// verifyBackupResult is what backup verify prints.
type verifyBackupResult struct {
	Snapshot      string         `json:"snapshot"`
	OK            bool           `json:"ok"`
	Manifest      bool           `json:"manifest"`
	Index         uint64         `json:"index"`
	Objects       int            `json:"objects"`
	Chunks        int            `json:"chunks"`
	ChunksChecked int            `json:"chunks_checked"`
	Missing       []chunk.Digest `json:"missing_chunks,omitempty"`
	Corrupt       []chunk.Digest `json:"corrupt_chunks,omitempty"`
	Problems      []string       `json:"problems,omitempty"`
}

func (s *session) backupVerify(ctx context.Context, src string, o *backupOptions) error {
	b, err := s.openBackup(ctx, src, o)
	if err != nil {
		return err
	}
	res := verifyBackupResult{Snapshot: b.String(), Manifest: b.m != nil}
	tmp, info, err := s.spoolSnapshot(ctx, b)
	if errors.Is(err, errBackupBad) {
		res.Problems = append(res.Problems, err.Error())
	} else if err != nil {
		return err
	} else {
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		res.Index, res.Objects, res.Chunks = info.Index, info.Objects, len(info.Chunks)
		if b.m != nil && (b.m.Index != info.Index || b.m.Chunks != len(info.Chunks) || b.m.BLAKE3 != info.Digest) {
			res.Problems = append(res.Problems, "the snapshot is not the one its manifest describes")
		}
		if b.r != nil && (b.m == nil || b.m.WithChunks) {
			if err := s.verifyChunks(ctx, b, info.Chunks, o.jobs, &res); err != nil {
				return err
			}
		}
	}
	if len(res.Missing) > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d referenced chunks are missing", len(res.Missing)))
	}
	if len(res.Corrupt) > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d chunks do not hash to their digest", len(res.Corrupt)))
	}
	res.OK = len(res.Problems) == 0
	s.emit(res, func(w io.Writer) {
		for _, d := range res.Missing {
			fmt.Fprintf(w, "missing  chunk %s\n", d)
		}
		for _, d := range res.Corrupt {
			fmt.Fprintf(w, "corrupt  chunk %s\n", d)
		}
		for _, p := range res.Problems {
			fmt.Fprintf(w, "problem: %s\n", p)
		}
		if res.OK {
			fmt.Fprintf(w, "%s is good: applied index %d, %d objects, %d chunks checked\n", res.Snapshot, res.Index, res.Objects, res.ChunksChecked)
		}
	})
	if !res.OK {
		return fmt.Errorf("verify %s: %w: %s", res.Snapshot, errBackupBad, strings.Join(res.Problems, "; "))
	}
	return nil
}

// verifyChunks checks that the repo holds every chunk of refs and that
// each hashes to its digest, recording what is missing or corrupt.
func (s *session) verifyChunks(ctx context.Context, b backupSource, refs []chunk.Ref, jobs int, res *verifyBackupResult) error {
	have, err := repoChunks(ctx, b.r)
	if err != nil {
		return err
	}
	var present []chunk.Ref
	var total int64
	for _, ref := range refs {
		if _, ok := have[ref.Digest]; !ok {
			res.Missing = append(res.Missing, ref.Digest)
			continue
		}
		present = append(present, ref)
		total += int64(ref.Size)
	}
	p, stop := s.progress("verify")
	defer stop()
	if p != nil {
		p.Grow(total)
	}
	var mu sync.Mutex
	err = parallel(ctx, len(present), jobs, func(ctx context.Context, i int) error {
		_, err := readChunk(ctx, b.r, present[i])
		if p != nil {
			p.Advance(int64(present[i].Size))
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, errBackupBad):
			res.Corrupt = append(res.Corrupt, present[i].Digest)
		case isNoFile(err):
			res.Missing = append(res.Missing, present[i].Digest)
			return nil
		case err != nil:
			return err
		}
		res.ChunksChecked++
		return nil
	})
	sortDigests(res.Missing)
	sortDigests(res.Corrupt)
	return err
}

func sortDigests(ds []chunk.Digest) {
	slices.SortFunc(ds, func(a, b chunk.Digest) int { return strings.Compare(string(a[:]), string(b[:])) })
}
