package daemon

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"

	"cairn/daemon/internal/hashpipe"
	"cairn/raftfsm"
)

// storedContent is content stored in this node's chunk store and on a
// write quorum of nodes, that nothing references yet: a part until the
// PutPart that names it commits.
type storedContent struct {
	File raftfsm.File
	ETag string // quoted hex MD5 of the content
}

// storeContent stores r, which must hold length bytes (-1: unknown, at
// most maxS3SinglePut), syncs it, calls finish (which may refuse it, for
// example when a trailing checksum did not verify), and replicates it to
// a write quorum. It is the part of putObject that a multipart part
// needs: a part is stored the same way, then committed by PutPart.
func (s *Server) storeContent(ctx context.Context, r io.Reader, length int64, finish func() error) (storedContent, error) {
	if length > maxS3SinglePut {
		return storedContent{}, badRequest("EntityTooLarge", "a part takes at most %d bytes", int64(maxS3SinglePut))
	}
	body := &countingReader{r: r, limit: maxS3SinglePut}
	sum := md5.New()
	pipe := hashpipe.New(sum)
	defer pipe.Close()
	res, pp, err := s.storeChunks(ctx, io.TeeReader(body, pipe))
	if err != nil {
		return storedContent{}, fmt.Errorf("store part: %w", err)
	}
	if length >= 0 && body.n != length {
		return storedContent{}, fmt.Errorf("%w: got %d of %d bytes", errShortBody, body.n, length)
	}
	pipe.Close()
	if finish != nil {
		if err := finish(); err != nil {
			return storedContent{}, err
		}
	}
	if len(res.Recipe) > raftfsm.MaxChunksPerFile {
		return storedContent{}, fmt.Errorf("%w: %d chunks", errTooLarge, len(res.Recipe))
	}
	if err := s.replicate(ctx, res.Recipe, pp); err != nil {
		return storedContent{}, err
	}
	return storedContent{
		File: raftfsm.File{Digest: res.Digest, Size: res.Size, Recipe: res.Recipe},
		ETag: `"` + hex.EncodeToString(sum.Sum(nil)) + `"`,
	}, nil
}
