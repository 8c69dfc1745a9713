package cluster

import (
	"context"
	"net/http"

	"cairn/cas"
)

// headerCodecs names, on a request for chunks, the highest codec the
// asking node reads. A node from before the S2 codec sends none, and is
// answered with forms it reads (S2 chunks raw), so that a cluster can be
// upgraded one node at a time.
const headerCodecs = "Cairn-Codecs"

// readsS2 reports whether the node that sent r reads S2 forms.
func readsS2(r *http.Request) bool {
	return r.Header.Get(headerCodecs) != ""
}

// RawForms returns batch with its S2 forms replaced by raw ones, for a
// node that reads only the codecs before S2, and whether it replaced
// any. Each chunk it replaces is read again from store, verified.
func RawForms(ctx context.Context, store *cas.Store, batch []cas.StoredChunk) ([]cas.StoredChunk, bool, error) {
	out := make([]cas.StoredChunk, len(batch))
	changed := false
	for i, c := range batch {
		out[i] = c
		if len(c.Value) == 0 || cas.Codec(c.Value[0]) != cas.CodecS2 {
			continue
		}
		v, err := rawForm(ctx, store, c.Digest)
		if err != nil {
			return nil, false, err
		}
		out[i].Value, changed = v, true
	}
	return out, changed, nil
}

func rawForm(ctx context.Context, store *cas.Store, d cas.Digest) ([]byte, error) {
	b, err := store.GetChunk(ctx, d)
	if err != nil {
		return nil, err
	}
	return append([]byte{byte(cas.CodecRaw)}, b...), nil
}

// formFor returns stored form v of chunk d as the node that sent r reads
// it.
func (s *Server) formFor(r *http.Request, d cas.Digest, v []byte) ([]byte, error) {
	if readsS2(r) || len(v) == 0 || cas.Codec(v[0]) != cas.CodecS2 {
		return v, nil
	}
	return rawForm(r.Context(), s.Store, d)
}
