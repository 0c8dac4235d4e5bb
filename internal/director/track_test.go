package director

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// A sync group's trackers apply to each member, without their weights
// unless sync_group_tracking_weight is set; track_file with weight 0
// becomes a file tracker. The script, checked under
// enable_script_security, runs as its resolved path as script_user.
func TestLoadGroupTrackers(t *testing.T) {
	trueBin, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, `global_defs {
    enable_script_security
    script_user root
}
vrrp_script chk {
    script "/bin/true -x"
    weight 10
}
track_file maint {
    file /run/maint
}
vrrp_sync_group G {
    group {
        A
        B
    }
    track_script {
        chk
    }
    track_interface {
        eth9 weight 5
    }
    track_file {
        maint weight 0
    }
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        10.0.0.1
    }
}
vrrp_instance B {
    interface eth1
    dont_track_primary
    virtual_router_id 2
    virtual_ipaddress {
        10.1.0.1
    }
}
`)
	p, warns := mustLoad(t, path, "")
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	want := []TrackPlan{
		{Kind: TrackInterface, Name: "eth0", Interface: "eth0"},
		{Kind: TrackInterface, Name: "eth9", Interface: "eth9"},
		{Kind: TrackScript, Name: "chk", Script: vrrp.ScriptConfig{Path: trueBin, Args: []string{"-x"}, Interval: 1e9,
			Credential: &syscall.Credential{Groups: []uint32{0}}}},
		{Kind: TrackFile, Name: "maint", File: vrrp.FileConfig{Path: "/run/maint"}},
	}
	if diff := cmp.Diff(want, p.Instances[0].Tracks); diff != "" {
		t.Errorf("tracks of A (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[1:], p.Instances[1].Tracks); diff != "" {
		t.Errorf("tracks of B (-want +got):\n%s", diff)
	}
}

// track_file with weight 0: a non-zero number in the file puts the
// instance in FAULT (and its VIP away); zero brings it back.
func TestTrackFileFault(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "maint")
	if err := os.WriteFile(flag, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keepalived.conf")
	conf := strings.ReplaceAll(`global_defs {
    vrrp_version 3
}
track_file maint {
    file FLAG
    weight 0
}
vrrp_instance A {
    interface eth0
    dont_track_primary
    virtual_router_id 1
    advert_int 0.1
    track_file {
        maint
    }
    virtual_ipaddress {
        10.0.0.1/24
    }
}
`, "FLAG", flag)
	d, net := startTrackDirector(t, path, conf)
	state := func(want string) func() bool {
		return func() bool { return d.Status(context.Background()).VRRP[0].State == want }
	}
	waitTrue(t, "MASTER", state("MASTER"))
	if err := os.WriteFile(flag, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, "FAULT", state("FAULT"))
	if net.has("10.0.0.1/24") {
		t.Error("VIP held in FAULT")
	}
	if err := os.WriteFile(flag, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, "MASTER again", state("MASTER"))
}

// track_file with a weight: the priority moves by the file's number times
// the weight (reverse: the other way), a change of -254 or less is FAULT,
// and a file renamed into place or removed counts, through inotify.
func TestTrackFileWeight(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "prio")
	path := filepath.Join(dir, "keepalived.conf")
	conf := strings.ReplaceAll(`global_defs {
    vrrp_version 3
}
track_file prio {
    file FLAG
    weight 10
    init_file 2
}
vrrp_instance A {
    interface eth0
    dont_track_primary
    virtual_router_id 1
    advert_int 0.1
    track_file {
        prio
    }
    virtual_ipaddress {
        10.0.0.1/24
    }
}
vrrp_instance B {
    interface eth0
    dont_track_primary
    virtual_router_id 2
    advert_int 0.1
    track_file {
        prio weight 3 reverse
    }
    virtual_ipaddress {
        10.0.0.2/24
    }
}
`, "FLAG", flag)
	d, _ := startTrackDirector(t, path, conf)
	is := func(wantA, wantB int, state string) func() bool {
		return func() bool {
			st := d.Status(context.Background()).VRRP
			return len(st) == 2 && st[0].EffectivePriority == wantA && st[1].EffectivePriority == wantB && st[0].State == state
		}
	}
	// init_file wrote 2 into the missing file.
	waitTrue(t, "init_file's 2: 120 and 94", is(120, 94, "MASTER"))
	tmp := filepath.Join(dir, "prio.new")
	if err := os.WriteFile(tmp, []byte("7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, flag); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, "7 renamed into place: 170 and 79", is(170, 79, "MASTER"))
	if err := os.WriteFile(flag, []byte("-26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, "-26: FAULT for A (-260), 178 for B", func() bool {
		st := d.Status(context.Background()).VRRP
		return st[0].State == "FAULT" && st[1].EffectivePriority == 178
	})
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, "file removed: 0, back to 100", is(100, 100, "MASTER"))
}

// vrrp_track_process and track_process as keepalived reads them: process
// name and parameters, param_match, quorum and quorum_max (0: no process
// may run), delays, and the weight a reference overrides.
func TestLoadTrackProcess(t *testing.T) {
	path := writeTemp(t, `vrrp_track_process nginx {
    process /usr/sbin/nginx -c /etc/nginx.conf
    param_match partial
    quorum 2
    quorum_max 4
    delay 2
    fork_delay 3
    weight 20
}
vrrp_track_process nothing {
    process backup-job
    quorum_max 0
}
vrrp_instance A {
    interface eth0
    dont_track_primary
    virtual_router_id 1
    track_process {
        nginx
        nothing weight -10 reverse
    }
    virtual_ipaddress {
        10.0.0.1
    }
}
`)
	p, warns := mustLoad(t, path, "")
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	want := []TrackPlan{
		{Kind: TrackProcess, Name: "nginx", Process: vrrp.ProcessConfig{Name: "/usr/sbin/nginx", Params: []string{"-c", "/etc/nginx.conf"},
			ParamMatch: vrrp.ParamMatchPartial, Quorum: 2, QuorumMax: 4, Weight: 20, ForkDelay: 3e9, TerminateDelay: 2e9}},
		{Kind: TrackProcess, Name: "nothing", Process: vrrp.ProcessConfig{Name: "backup-job", Quorum: 1, Absent: true,
			Weight: -10, Reverse: true}},
	}
	if diff := cmp.Diff(want, p.Instances[0].Tracks); diff != "" {
		t.Errorf("tracks (-want +got):\n%s", diff)
	}
}

// track_process with a weight, on processes the test starts: the
// priority follows the quorum of real processes, counted in /proc.
func TestTrackProcessWeight(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	dir := t.TempDir()
	name := fmt.Sprintf("lvsd%d", os.Getpid()%1000000)
	link := filepath.Join(dir, name)
	if err := os.Symlink(sleep, link); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keepalived.conf")
	conf := strings.ReplaceAll(`global_defs {
    vrrp_version 3
}
vrrp_track_process web {
    process NAME
    weight 30
}
vrrp_instance A {
    interface eth0
    dont_track_primary
    virtual_router_id 1
    advert_int 0.1
    track_process {
        web
    }
    virtual_ipaddress {
        10.0.0.1/24
    }
}
`, "NAME", name)
	d, _ := startTrackDirector(t, path, conf)
	prio := func(want int) func() bool {
		return func() bool { return d.Status(context.Background()).VRRP[0].EffectivePriority == want }
	}
	waitTrue(t, "no process: 100", prio(100))
	c := exec.Command(link, "300")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	waitTrue(t, "process running: 130", prio(130))
	c.Process.Kill()
	c.Wait()
	waitTrue(t, "process gone: 100", prio(100))
}

// startTrackDirector writes conf to path and runs a director on it, alone
// on an in-memory VRRP network with a fake host network.
func startTrackDirector(t *testing.T, path, conf string) (*Director, *fakeNetwork) {
	t.Helper()
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	net := &fakeNetwork{}
	d := startDirector(t, Options{ConfigPath: path, IPVS: ipvs.NewMemory(), Network: net,
		Transport: vrrp.NewMemNet().Transport(netip.MustParseAddr("10.0.0.2"))})
	return d, net
}
