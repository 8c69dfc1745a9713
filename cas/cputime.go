//go:build unix

package cas

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used,
// so that a benchmark can say how much CPU its work took, not only how
// long: on two cores, work that needs more than twice its ceiling's time
// in CPU cannot beat the ceiling twice over, however it is spread.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
