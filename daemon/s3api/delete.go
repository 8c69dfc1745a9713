package s3api

import (
	"net/http"
	"sync"

	"cairn/daemon/internal/apierr"
	"cairn/raftfsm"
)

// deleteParallel bounds the deletes of one DeleteObjects in flight; Raft
// batches them into few log writes.
const deleteParallel = 8

// deleteObjects deletes up to 1000 keys named in an XML body, each on
// its own: the answer lists every key deleted (unless Quiet) and every
// key that failed with its error. A key that does not exist counts as
// deleted, as in S3.
func (a *API) deleteObjects(w http.ResponseWriter, q *s3Request) error {
	ctx := q.r.Context()
	body, err := s3Body(q, maxS3XMLBody)
	if err != nil {
		return err
	}
	req, err := parseDeleteXML(body)
	if err != nil {
		return err
	}
	if _, err := a.bucket(ctx, q.bucket); err != nil {
		return err
	}
	errs := make([]error, len(req.Objects))
	sem := make(chan struct{}, deleteParallel)
	var wg sync.WaitGroup
	for i, o := range req.Objects {
		if errs[i] = checkVersionID(o.VersionID); errs[i] != nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = a.node.Propose(ctx, &raftfsm.DeleteObject{Bucket: q.bucket, Key: o.Key})
		})
	}
	wg.Wait()
	out := deleteResult{}
	for i, o := range req.Objects {
		if errs[i] != nil {
			e := apierr.Classify(errs[i])
			out.Errors = append(out.Errors, deleteError{Key: o.Key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
			continue
		}
		if !req.Quiet {
			out.Deleted = append(out.Deleted, deletedKey(o))
		}
	}
	writeXML(w, http.StatusOK, out)
	return nil
}
