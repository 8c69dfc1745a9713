package term

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IsTerminal reports whether w is a character device, such as a terminal
// (and not a file or a pipe).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Bytes formats a byte count with binary units.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Bar pacing: nothing is drawn for work shorter than Delay, then the bar
// is redrawn every tick.
const (
	Delay    = time.Second
	tick     = 200 * time.Millisecond
	barWidth = 30
)

// Bar is a progress bar with throughput and ETA, redrawn in place. Grow
// and Advance are safe for concurrent use; Stop ends it with a newline.
type Bar struct {
	w           io.Writer
	label       string
	unit        string // "" for bytes, else the name of what is counted
	delay       time.Duration
	total, done atomic.Int64
	start       time.Time
	quit        chan struct{}
	wg          sync.WaitGroup
	once        sync.Once
}

// NewBar starts a bar on w counting bytes, or things named unit (such
// as "files") when unit is not empty; it draws nothing before delay has
// passed, so that short work leaves no trace.
func NewBar(w io.Writer, label, unit string, delay time.Duration) *Bar {
	b := &Bar{w: w, label: label, unit: unit, delay: delay, start: time.Now(), quit: make(chan struct{})}
	b.wg.Go(b.loop)
	return b
}

// Grow adds n to the total.
func (b *Bar) Grow(n int64) { b.total.Add(n) }

// Advance adds n to what is done.
func (b *Bar) Advance(n int64) { b.done.Add(n) }

// Stop draws the bar a last time, if it was drawn at all, and ends it. It
// may be called more than once.
func (b *Bar) Stop() {
	b.once.Do(func() { close(b.quit) })
	b.wg.Wait()
}

func (b *Bar) loop() {
	delay := time.NewTimer(b.delay)
	defer delay.Stop()
	select {
	case <-delay.C:
	case <-b.quit:
		// Stop may win the race with a delay that has run out: the bar
		// is due all the same.
		if time.Since(b.start) < b.delay {
			return // never shown: a short task leaves no bar behind
		}
		b.draw()
		fmt.Fprintln(b.w)
		return
	}
	t := time.NewTicker(tick)
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

func (b *Bar) draw() {
	done, total := b.done.Load(), max(b.total.Load(), 1)
	frac := min(float64(done)/float64(total), 1)
	fill := int(frac * barWidth)
	el := time.Since(b.start).Seconds()
	rate := float64(done) / max(el, 1e-3)
	eta := "--"
	if rate > 0 && done < total {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	speed := Bytes(int64(rate)) + "/s"
	if b.unit != "" {
		speed = fmt.Sprintf("%.0f %s/s", rate, b.unit)
	}
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", barWidth-fill)
	fmt.Fprintf(b.w, "\r%s [%s] %3.0f%% %s ETA %s   ", b.label, bar, 100*frac, speed, eta)
}
