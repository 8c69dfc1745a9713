//go:build !linux

package cas

// cpuMeter cannot see other processes here: the compactor goes by the
// store's own activity alone.
type cpuMeter struct{}

func (cpuMeter) spare() bool { return true }

func (cpuMeter) saturated() bool { return false }
