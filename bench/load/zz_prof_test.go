package load

import (
	"os"
	"runtime/pprof"
	"testing"
)

func TestZZProfileIngest(t *testing.T) {
	target := os.Getenv("ZZ_TARGET")
	if target == "" {
		t.Skip()
	}
	o := FullOptions()
	o.Targets = []string{target}
	o.Rounds, o.Commits, o.Scale, o.Sample = 1, 10, nil, 1
	o.Spec.Experiments, o.Spec.Runs = 1, 10
	o.Ingest = 48
	o.WorkDir = t.TempDir()
	f, _ := os.Create("/tmp/ingest.prof")
	pprof.StartCPUProfile(f)
	rep, err := Run(t.Context(), o)
	pprof.StopCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("new %.1f MB/s p50 %.1f, same %.1f MB/s", rep.Targets[0].New[0].MBs, rep.Targets[0].New[0].LargeP50, rep.Targets[0].Same[0].MBs)
}
