package upkeep

import (
	"testing"
	"time"
)

// TestRepairWait: a pass that fetched keeps the interval, however long
// it took; one that only checked waits twenty times its check when that
// is longer.
func TestRepairWait(t *testing.T) {
	for _, tc := range []struct {
		checked bool
		took    time.Duration
		want    time.Duration
	}{
		{true, 10 * time.Millisecond, 10 * time.Second},
		{true, 2 * time.Second, 40 * time.Second},
		{false, 2 * time.Second, 10 * time.Second},
		{false, time.Minute, 10 * time.Second},
		{true, 500 * time.Millisecond, 10 * time.Second},
	} {
		if got := repairWait(10*time.Second, tc.checked, tc.took); got != tc.want {
			t.Errorf("checked %v in %v: wait %v, want %v", tc.checked, tc.took, got, tc.want)
		}
	}
}
