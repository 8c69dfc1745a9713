package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cairn/client"
)

// Progress bar pacing: nothing is drawn for a transfer shorter than
// progressDelay, then the bar is redrawn every progressTick.
const (
	progressDelay = time.Second
	progressTick  = 200 * time.Millisecond
	barWidth      = 30
)

// isTerminal reports whether w is a character device, such as a
// terminal (and not a file or a pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// bar is a progress bar with throughput and ETA on a terminal. Grow and
// Advance are safe for concurrent use; stop ends it.
type bar struct {
	w           io.Writer
	label       string
	total, done atomic.Int64
	start       time.Time
	quit        chan struct{}
	wg          sync.WaitGroup
}

// progress returns a progress sink for a transfer and the function that
// ends it: a bar on stderr when it is a terminal, nothing otherwise.
func (s *session) progress(label string) (client.Progress, func()) {
	if s.global.noProgress || !isTerminal(s.env.Stderr) {
		return nil, func() {}
	}
	b := &bar{w: s.env.Stderr, label: label, start: time.Now(), quit: make(chan struct{})}
	b.wg.Go(b.loop)
	return b, b.stop
}

func (b *bar) Grow(n int64)    { b.total.Add(n) }
func (b *bar) Advance(n int64) { b.done.Add(n) }

func (b *bar) loop() {
	delay := time.NewTimer(progressDelay)
	defer delay.Stop()
	select {
	case <-delay.C:
	case <-b.quit:
		return
	}
	t := time.NewTicker(progressTick)
	defer t.Stop()
	for {
		b.draw()
		select {
		case <-t.C:
		case <-b.quit:
			b.draw()
			fmt.Fprintln(b.w)
			return
		}
	}
}

func (b *bar) stop() {
	close(b.quit)
	b.wg.Wait()
}

func (b *bar) draw() {
	done, total := b.done.Load(), max(b.total.Load(), 1)
	frac := min(float64(done)/float64(total), 1)
	fill := int(frac * barWidth)
	el := time.Since(b.start).Seconds()
	rate := float64(done) / max(el, 1e-3)
	eta := "--"
	if rate > 0 && done < total {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", barWidth-fill)
	fmt.Fprintf(b.w, "\r%s [%s] %3.0f%% %s/s ETA %s   ", b.label, bar, 100*frac, humanBytes(int64(rate)), eta)
}
