package client

// Progress is told how a transfer advances, in bytes: Grow when more work
// becomes known (a file to hash, chunks to send or fetch), Advance as it is
// done. Its methods are called from several goroutines at once and must
// be quick.
type Progress interface {
	Grow(n int64)
	Advance(n int64)
}

type noProgress struct{}

func (noProgress) Grow(int64)    {}
func (noProgress) Advance(int64) {}

func orNoProgress(p Progress) Progress {
	if p == nil {
		return noProgress{}
	}
	return p
}
