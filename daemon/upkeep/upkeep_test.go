package upkeep

import (
	"testing"
	"time"
)

// TestRepairWait: a pass that found chunks missing keeps the interval; one
// that found none waits twenty times its length when that is longer.
func TestRepairWait(t *testing.T) {
	for _, tc := range []struct {
		took    time.Duration
		missing int64
		want    time.Duration
	}{
		{10 * time.Millisecond, 0, 10 * time.Second},
		{2 * time.Second, 0, 40 * time.Second},
		{2 * time.Second, 3, 10 * time.Second},
		{500 * time.Millisecond, 0, 10 * time.Second},
	} {
		if got := repairWait(10*time.Second, tc.took, tc.missing); got != tc.want {
			t.Errorf("pass of %v, %d missing: wait %v, want %v", tc.took, tc.missing, got, tc.want)
		}
	}
}
