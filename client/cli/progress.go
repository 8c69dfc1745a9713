package cli

import (
	"cairn/client"
	"cairn/client/term"
)

// progress returns a progress sink for a transfer and the function that
// ends it: a bar on stderr when it is a terminal, nothing otherwise.
func (s *session) progress(label string) (client.Progress, func()) {
	if s.global.noProgress || !term.IsTerminal(s.env.Stderr) {
		return nil, func() {}
	}
	b := term.NewBar(s.env.Stderr, label, "", term.Delay)
	return b, b.Stop
}
