package cas

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// cpuMeter tells whether other processes leave a core free, from the
// machine's CPU time (/proc/stat) minus this process's own, and whether
// every core is busy, sampled at most every cpuSample.
type cpuMeter struct {
	mu         sync.Mutex
	at         time.Time
	busy, all  uint64        // jiffies, from /proc/stat
	self       time.Duration // this process's CPU time
	free       bool
	full       bool
	unreadable bool
}

const cpuSample = 100 * time.Millisecond

// userHZ is the unit of /proc/stat (USER_HZ, 100 on every Linux build
// that matters).
const userHZ = 100

// spare reports whether other processes left at least three quarters of
// a core free in the last sample.
func (m *cpuMeter) spare() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sample()
	return m.free || m.unreadable
}

// saturated reports whether the machine, this process included, left
// less than a quarter of a core idle in the last sample.
func (m *cpuMeter) saturated() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sample()
	return m.full && !m.unreadable
}

// sample reads the machine's and the process's CPU time, unless it did
// less than cpuSample ago. m.mu is held.
func (m *cpuMeter) sample() {
	now := time.Now()
	if m.unreadable || now.Sub(m.at) < cpuSample {
		return
	}
	busy, all, err := readProcStat()
	if err != nil {
		m.unreadable = true
		return
	}
	self := processCPU()
	if !m.at.IsZero() && all > m.all {
		wall := now.Sub(m.at).Seconds()
		busyCores := float64(busy-m.busy) / userHZ / wall
		selfCores := (self - m.self).Seconds() / wall
		others := busyCores - selfCores
		m.free = float64(runtime.NumCPU())-others >= 0.75
		m.full = float64(runtime.NumCPU())-busyCores < 0.25
	}
	m.at, m.busy, m.all, m.self = now, busy, all, self
}

// readProcStat returns the machine's busy and total CPU jiffies.
func readProcStat() (busy, all uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, os.ErrInvalid
	}
	// user nice system idle iowait irq softirq steal; guest time is
	// already counted in user.
	for i, x := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(string(x), 10, 64)
		if err != nil {
			return 0, 0, err
		}
		all += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, all, nil
}
