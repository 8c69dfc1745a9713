//go:build !unix

package cas

import "time"

// processCPU is not known on this platform.
func processCPU() time.Duration { return 0 }
