package director

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// daemonBackend is a table with a fake sync daemon controller that keeps
// the running daemons and the order of the calls.
type daemonBackend struct {
	*recordingBackend
	mu      sync.Mutex
	running map[ipvs.DaemonState]ipvs.SyncDaemon
	calls   []string
}

func (b *daemonBackend) StartDaemon(_ context.Context, d ipvs.SyncDaemon) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, "start "+d.State.String())
	if _, ok := b.running[d.State]; ok {
		return fmt.Errorf("start sync daemon: %w", ipvs.ErrExists)
	}
	b.running[d.State] = d
	return nil
}

func (b *daemonBackend) StopDaemon(_ context.Context, s ipvs.DaemonState) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, "stop "+s.String())
	if _, ok := b.running[s]; !ok {
		return fmt.Errorf("stop sync daemon: %w", ipvs.ErrNotFound)
	}
	delete(b.running, s)
	return nil
}

func (b *daemonBackend) Daemons(context.Context) ([]ipvs.SyncDaemon, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []ipvs.SyncDaemon
	for _, d := range b.running {
		out = append(out, d)
	}
	return out, nil
}

func (b *daemonBackend) roles() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var r []string
	for _, s := range []ipvs.DaemonState{ipvs.DaemonMaster, ipvs.DaemonBackup} {
		if d, ok := b.running[s]; ok {
			r = append(r, fmt.Sprintf("%s/%s/%d", s, d.Interface, d.SyncID))
		}
	}
	return strings.Join(r, ",")
}

func waitRoles(t *testing.T, b *daemonBackend, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.roles() != want {
		if time.Now().After(deadline) {
			t.Fatalf("sync daemons %q, want %q (calls %v)", b.roles(), want, b.calls)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The sync daemon follows the VRRP instance named by lvs_sync_daemon:
// backup while BACKUP, master while MASTER, switched on every transition,
// and stopped when the director stops.
func TestSyncDaemonFollowsVRRP(t *testing.T) {
	var db *daemonBackend
	r := newRig(t, "    lvs_sync_daemon eth0 V id 7\n", func(rb *recordingBackend) ipvs.Backend {
		db = &daemonBackend{recordingBackend: rb, running: map[ipvs.DaemonState]ipvs.SyncDaemon{}}
		return db
	})
	r.waitFor("MASTER", func(st Status) bool { return len(st.VRRP) == 1 && st.VRRP[0].State == "MASTER" })
	waitRoles(t, db, "master/eth0/7")
	st := r.d.Status(context.Background())
	if st.SyncDaemon == nil || st.SyncDaemon.Role != "master" || st.SyncDaemon.Interface != "eth0" {
		t.Errorf("status sync_daemon %+v", st.SyncDaemon)
	}

	// A peer with a higher priority takes over: we go BACKUP.
	peer, err := vrrp.New(vrrp.Config{Name: "peer", Interface: "eth0", VRID: 9, Version: 3, Priority: 200,
		AdvertInterval: 100 * time.Millisecond, VIPs: []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.0.0.9/24")}},
		Network: &fakeNetwork{}, Transport: r.memnet.Transport(netip.MustParseAddr("10.0.0.2"))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	peerDone := make(chan struct{})
	go func() { defer close(peerDone); peer.Run(ctx) }()
	defer func() { cancel(); <-peerDone }()
	r.waitFor("BACKUP", func(st Status) bool { return st.VRRP[0].State == "BACKUP" })
	waitRoles(t, db, "backup/eth0/7")

	// The peer stops (priority 0): we are MASTER again.
	cancel()
	<-peerDone
	r.waitFor("MASTER again", func(st Status) bool { return st.VRRP[0].State == "MASTER" })
	waitRoles(t, db, "master/eth0/7")

	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if got := db.roles(); got != "" {
		t.Errorf("sync daemons still running after stop: %s", got)
	}
}

// /metrics passes promtool (the Debian prometheus package's checker).
func TestMetricsPromtool(t *testing.T) {
	r := newReloadRig(t)
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	if err := r.d.Reload(); err != nil {
		t.Fatal(err)
	}
	body := r.metrics()
	for _, name := range []string{
		`lvskit_director_config_reloads_total{result="ok"} 1`,
		`lvskit_vrrp_state{instance="V"} 2`,
		`lvskit_ipvs_destination_weight{destination="127.0.0.1:`,
		`lvskit_ipvs_writes_total`,
		`lvskit_healthcheck_real_server_up`,
	} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	peer.CheckMetrics(t, body)
}
