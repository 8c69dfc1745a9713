package upkeep

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"cairn/daemon/cluster"
	"cairn/daemon/core"
	"cairn/daemon/tier"
)

// Config sets what the loops of Run do and how often.
type Config struct {
	// GCInterval is how often GC runs; 0 or negative: never on its own.
	GCInterval time.Duration
	// GCFullInterval is how often FullGC runs instead; 0 or negative:
	// never on its own.
	GCFullInterval time.Duration
	// GCGrace is how long an unreferenced chunk that a writer touched is
	// kept.
	GCGrace time.Duration
	// UploadExpiry is how long after its creation an unfinished upload is
	// aborted; 0 or negative: never.
	UploadExpiry time.Duration
	// RepairInterval is how often the node looks for chunks it lacks.
	RepairInterval time.Duration
	// RepairRate bounds repair's fetching, in bytes a second.
	RepairRate int64
	// Tier is the bucket of the cold tier (nil: none); chunks unread for
	// TierAfter move there, a pass every TierInterval (0: only on
	// demand).
	Tier         *tier.Bucket
	TierAfter    time.Duration
	TierInterval time.Duration
	// HoldLateETags keeps the leader from filling late ETags, and
	// OlderRelease from filling them and turning the cluster's features on
	// (tests: a node of an older release does neither).
	HoldLateETags, OlderRelease bool
	Logger                      *slog.Logger
}

// Upkeep runs a node's background work. Its methods are safe for
// concurrent use; each also runs on demand (the admin API).
type Upkeep struct {
	cfg    Config
	node   *core.Node
	log    *slog.Logger
	gcMu   sync.Mutex // one GC pass at a time
	tierMu sync.Mutex // one tier pass at a time
}

// New returns the upkeep of node.
func New(node *core.Node, cfg Config) *Upkeep {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Upkeep{cfg: cfg, node: node, log: cfg.Logger}
}

// Run runs GC, upload expiry, the cold tier, repair and the filling of
// late ETags (core.ETags) on their schedules until ctx
// ends, and returns once they have stopped.
func (u *Upkeep) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if u.cfg.GCInterval > 0 {
		wg.Go(func() { every(ctx, u.cfg.GCInterval, func() { u.logGC(u.GC(ctx)) }) })
	}
	if u.cfg.GCFullInterval > 0 {
		wg.Go(func() { every(ctx, u.cfg.GCFullInterval, func() { u.logGC(u.FullGC(ctx)) }) })
	}
	if u.cfg.UploadExpiry > 0 {
		d := max(min(u.cfg.UploadExpiry/4, time.Hour), time.Second)
		wg.Go(func() {
			every(ctx, d, func() {
				if _, err := u.ExpireUploads(ctx); err != nil && ctx.Err() == nil {
					u.log.Warn("multipart upload expiry", "err", err)
				}
			})
		})
	}
	if u.cfg.Tier != nil && u.cfg.TierInterval > 0 {
		wg.Go(func() {
			every(ctx, u.cfg.TierInterval, func() {
				if _, err := u.Tier(ctx); err != nil && ctx.Err() == nil {
					u.log.Warn("cold tier pass", "err", err)
				}
			})
		})
	}
	wg.Go(func() { u.repairLoop(ctx) })
	if !u.cfg.OlderRelease {
		wg.Go(func() { core.RunFeatures(ctx, u.node) })
		if !u.cfg.HoldLateETags {
			wg.Go(func() { u.node.ETags().Run(ctx) })
		}
	}
	wg.Wait()
}

// repairLoop runs Repair every RepairInterval, or less often when its
// passes find nothing missing (see repairWait).
func (u *Upkeep) repairLoop(ctx context.Context) {
	wait := u.cfg.RepairInterval
	for cluster.Sleep(ctx, wait) == nil {
		checked, took := u.Repair(ctx)
		wait = repairWait(u.cfg.RepairInterval, checked, took)
	}
}

// repairPace is how many times as long as a pass that found nothing
// missing repair waits before the next one.
const repairPace = 20

// repairWait is the wait before the next repair pass: the interval, or,
// after a pass that only checked (it found nothing missing), repairPace
// times that check if that is longer. A check walks every chunk reference
// of the state and looks each up in the chunk store, which takes seconds
// once there are millions, and a node that holds them all should not
// spend more than a twentieth of a core checking it again. A pass that
// fetched chunks is followed by another after the interval, whatever it
// took: references committed while it ran (a joining node still
// applying the log) are found then.
func repairWait(interval time.Duration, checked bool, took time.Duration) time.Duration {
	if !checked {
		return interval
	}
	return max(interval, repairPace*took)
}

func (u *Upkeep) logGC(res GCResult, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		u.log.Warn("garbage collection", "full", res.Full, "err", err)
	}
}

func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			fn()
		case <-ctx.Done():
			return
		}
	}
}
