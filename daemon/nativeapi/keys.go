package nativeapi

import (
	"net/http"
	"net/url"
	"time"

	"cairn/client"
	"cairn/daemon/auth"
	"cairn/daemon/internal/apierr"
	"cairn/daemon/internal/httpx"
	"cairn/raftfsm"
)

// keys serves the cluster's access keys (admin only): GET keys lists them
// (never their secrets), POST keys creates one and answers with its secret
// (the only time it is shown), DELETE keys/{id} removes one.
func (a *API) keys(w http.ResponseWriter, r *http.Request, rest string) error {
	id, err := url.PathUnescape(rest)
	if err != nil {
		return apierr.BadRequest("InvalidRequest", "bad escape in key id")
	}
	switch {
	case id == "" && r.Method == http.MethodGet:
		keys, err := a.node.State().AccessKeys()
		if err != nil {
			return err
		}
		out := []client.AccessKey{}
		for _, k := range keys {
			out = append(out, wireKey(k, ""))
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	case id == "" && r.Method == http.MethodPost:
		var req client.KeyRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		role, err := auth.ParseRole(req.Role)
		if err != nil || role == auth.None {
			return apierr.BadRequest("InvalidArgument", "role %q: want read, write or admin", req.Role)
		}
		kid, secret := auth.NewKey()
		if req.ID != "" {
			kid = req.ID
		}
		if req.Secret != "" {
			if len(req.Secret) < 16 {
				return apierr.BadRequest("InvalidArgument", "a secret has at least 16 characters")
			}
			secret = req.Secret
		}
		res, err := a.node.Propose(r.Context(), &raftfsm.PutKey{Key: raftfsm.AccessKey{
			ID: kid, Sealed: a.cfg.Sealer.Seal(kid, secret), Role: role.String(), Buckets: req.Buckets,
			Name: req.Name, Created: a.node.Now().UnixNano(),
		}})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireKey(*res.Key, secret))
	case id != "" && r.Method == http.MethodGet:
		k, err := a.node.State().AccessKey(id)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireKey(k, ""))
	case id != "" && r.Method == http.MethodDelete:
		if _, err := a.node.Propose(r.Context(), &raftfsm.DeleteKey{ID: id}); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, struct{}{})
	default:
		return apierr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s not allowed here", r.Method)
	}
	return nil
}

func wireKey(k raftfsm.AccessKey, secret string) client.AccessKey {
	return client.AccessKey{ID: k.ID, Secret: secret, Role: k.Role, Buckets: k.Buckets, Name: k.Name, Created: time.Unix(0, k.Created).UTC()}
}
