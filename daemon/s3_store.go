package daemon

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"cairn/raftfsm"
)

// storedContent is content stored in this node's chunk store and on a
// write quorum of nodes, that nothing references yet: an object until
// its PutObject commits, a part until its PutPart does.
type storedContent struct {
	File     raftfsm.File
	ETag     string // quoted hex MD5 of the content
	NewBytes int64  // bytes of chunks new to this node
}

// storeContent stores r, which must hold length bytes (-1: unknown) and
// at most limit, syncs it, calls finish (which may refuse it, for example
// when a trailing checksum did not verify), and replicates it to a write
// quorum. Objects and parts of every surface are stored this way, then
// committed by their own command.
//
// bodyMD5, if not nil, gives the MD5 of a body that computes its own (an
// S3 body does) once it has been read, so that it is not computed twice.
func (s *Server) storeContent(ctx context.Context, r io.Reader, length, limit int64, bodyMD5 func() []byte, finish func() error) (storedContent, error) {
	if length > limit {
		return storedContent{}, fmt.Errorf("%w: %d bytes, above %d", errTooLarge, length, limit)
	}
	body := &countingReader{r: r, limit: limit}
	var sum hash.Hash
	if bodyMD5 == nil {
		sum = md5.New()
		bodyMD5 = func() []byte { return sum.Sum(nil) }
	}
	res, pp, err := s.storeChunks(ctx, body, sum)
	if err != nil {
		return storedContent{}, fmt.Errorf("store: %w", err)
	}
	if length >= 0 && body.n != length {
		return storedContent{}, fmt.Errorf("%w: got %d of %d bytes", errShortBody, body.n, length)
	}
	if finish != nil {
		if err := finish(); err != nil {
			return storedContent{}, err
		}
	}
	if len(res.Recipe) > raftfsm.MaxChunksPerFile {
		return storedContent{}, fmt.Errorf("%w: %d chunks", errTooLarge, len(res.Recipe))
	}
	etag := bodyMD5()
	if len(etag) != md5.Size {
		return storedContent{}, fmt.Errorf("store: the body has no MD5")
	}
	if err := s.replicate(ctx, res.Recipe, pp); err != nil {
		return storedContent{}, err
	}
	return storedContent{
		File:     raftfsm.File{Digest: res.Digest, Size: res.Size, Recipe: res.Recipe},
		ETag:     `"` + hex.EncodeToString(etag) + `"`,
		NewBytes: res.NewBytes,
	}, nil
}
