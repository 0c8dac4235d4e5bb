package director

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/lvskit/lvskit/clock"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// syncFollower runs the kernel's IPVS connection sync daemon the way
// keepalived does: as master while the followed VRRP instance is MASTER,
// as backup otherwise, switching on every transition; with no instance
// named, both run all the time. It stops them when it stops.
type syncFollower struct {
	d   *Director
	cfg SyncDaemonPlan
	dc  ipvs.DaemonController
	log *slog.Logger

	mu      sync.Mutex
	want    vrrp.State
	role    string // what runs now: "", "master", "backup", "both"
	lastErr string
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// syncDaemonSpec is the connection sync daemon.
type syncDaemonSpec struct {
	Plan SyncDaemonPlan
}

func (s syncDaemonSpec) key() unitKey { return unitKey{kind: kindSyncDaemon} }

func (s syncDaemonSpec) build(d *Director, _ unit) (unit, error) {
	return &syncFollower{d: d, cfg: s.Plan, dc: d.daemons, log: d.log.With("component", "sync_daemon"),
		want: vrrp.StateBackup, wake: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// start runs the follower, from the followed instance's current state.
// Without a backend that has the sync daemon, it logs that it is not
// supported and does nothing.
func (f *syncFollower) start(ctx context.Context) {
	if f.dc == nil {
		f.log.Warn("lvs_sync_daemon: the IPVS backend cannot run the connection sync daemon; continuing without it",
			"backend", f.d.backendName, "err", ipvs.ErrNotSupported)
		close(f.done)
		return
	}
	for _, r := range f.d.units {
		if u, ok := r.unit.(*vrrpUnit); ok {
			for _, in := range u.instances {
				if in.Name() == f.cfg.Instance && in.State() == vrrp.StateMaster {
					f.want = vrrp.StateMaster
				}
			}
		}
	}
	// cancel is set only with the goroutine that closes done: stop waits
	// for done only then.
	ctx, f.cancel = context.WithCancel(ctx)
	f.d.follower.Store(f)
	f.d.bg.Go(func() { _ = f.d.guard("sync daemon", func() error { f.run(ctx); return nil }) })
}

func (f *syncFollower) discard() {}

func (f *syncFollower) set(s vrrp.State) {
	f.mu.Lock()
	f.want = s
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stop stops the daemons and the follower.
func (f *syncFollower) stop(bool) {
	f.d.follower.CompareAndSwap(f, nil)
	if f.cancel == nil { // not started, or without a daemon controller
		return
	}
	f.cancel()
	<-f.done
}

// status is what /status shows.
func (f *syncFollower) status() (role, lastErr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.role, f.lastErr
}

// daemonTimeout bounds one start or stop of the sync daemon.
const daemonTimeout = 10 * time.Second

func (f *syncFollower) run(ctx context.Context) {
	defer close(f.done)
	defer f.stopAll()
	for {
		f.apply(ctx)
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		}
	}
}

func (f *syncFollower) daemon(s ipvs.DaemonState) ipvs.SyncDaemon {
	d := f.cfg.Daemon
	d.State = s
	return d
}

func (f *syncFollower) apply(ctx context.Context) {
	f.mu.Lock()
	want := f.want
	f.mu.Unlock()
	role := "backup"
	switch {
	case f.cfg.Instance == "":
		role = "both"
	case want == vrrp.StateMaster:
		role = "master"
	}
	f.mu.Lock()
	cur := f.role
	f.mu.Unlock()
	if role == cur {
		return
	}
	cctx, cancel := clock.WithTimeout(ctx, f.d.clock, daemonTimeout)
	defer cancel()
	var err error
	switch role {
	case "both":
		err = errors.Join(f.startDaemon(cctx, ipvs.DaemonMaster), f.startDaemon(cctx, ipvs.DaemonBackup))
	case "master":
		err = errors.Join(f.stopOne(cctx, ipvs.DaemonBackup), f.startDaemon(cctx, ipvs.DaemonMaster))
	case "backup":
		err = errors.Join(f.stopOne(cctx, ipvs.DaemonMaster), f.startDaemon(cctx, ipvs.DaemonBackup))
	}
	f.mu.Lock()
	f.role = role
	f.lastErr = ""
	if err != nil {
		f.lastErr = err.Error()
	}
	f.mu.Unlock()
	if err != nil {
		f.log.Error("sync daemon", "role", role, "err", err)
		return
	}
	f.log.Info("sync daemon", "role", role, "interface", f.cfg.Daemon.Interface, "sync_id", f.cfg.Daemon.SyncID)
}

func (f *syncFollower) startDaemon(ctx context.Context, s ipvs.DaemonState) error {
	err := f.dc.StartDaemon(ctx, f.daemon(s))
	if errors.Is(err, ipvs.ErrExists) {
		return nil
	}
	return err
}

func (f *syncFollower) stopOne(ctx context.Context, s ipvs.DaemonState) error {
	err := f.dc.StopDaemon(ctx, s)
	if errors.Is(err, ipvs.ErrNotFound) {
		return nil
	}
	return err
}

func (f *syncFollower) stopAll() {
	ctx, cancel := clock.WithTimeout(context.Background(), f.d.clock, daemonTimeout)
	defer cancel()
	if err := errors.Join(f.stopOne(ctx, ipvs.DaemonMaster), f.stopOne(ctx, ipvs.DaemonBackup)); err != nil {
		f.log.Error("stop sync daemon", "err", err)
	}
	f.mu.Lock()
	f.role = ""
	f.mu.Unlock()
	f.log.Info("sync daemon stopped")
}
