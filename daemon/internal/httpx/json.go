package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"cairn/daemon/internal/apierr"
)

// MaxJSONBody bounds JSON request bodies; a commit of the most chunks a
// file may have takes about 7 MiB.
const MaxJSONBody = 16 << 20

// WriteJSON answers with v as JSON and its Content-Length.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"code":"InternalError","message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// DecodeJSON reads a JSON body of at most MaxJSONBody bytes into v,
// refusing unknown fields and trailing data.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apierr.New(http.StatusRequestEntityTooLarge, "EntityTooLarge", "JSON body over %d bytes", MaxJSONBody)
		}
		return apierr.BadRequest("MalformedJSON", "malformed JSON body: %v", err)
	}
	if dec.More() {
		return apierr.BadRequest("MalformedJSON", "trailing data after the JSON body")
	}
	return nil
}
