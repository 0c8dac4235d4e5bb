package director

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

const groupConf = `global_defs {
    vrrp_version 3
}
vrrp_sync_group G {
    group {
        A
        B
    }
}
vrrp_instance A {
    interface eth0
    dont_track_primary
    virtual_router_id 1
    advert_int 0.1
    priority {{PA}}
    virtual_ipaddress {
        10.0.0.1/24
    }
}
vrrp_instance B {
    interface eth1
    dont_track_primary
    virtual_router_id 2
    advert_int 0.1
    virtual_ipaddress {
        10.1.0.1/24
    }
}
vrrp_instance C {
    interface eth0
    dont_track_primary
    virtual_router_id 3
    advert_int 0.1
    virtual_ipaddress {
        10.0.0.3/24
    }
}
`

// A sync group starts and stops as one unit: a reload that changes
// nothing keeps it (and the standalone instance) running; a change to one
// member restarts the group and leaves the standalone instance alone.
func TestReloadSyncGroup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	write := func(pa string) {
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(groupConf, "{{PA}}", pa)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("100")
	net := &fakeNetwork{}
	d := startDirector(t, Options{ConfigPath: path, IPVS: ipvs.NewMemory(), Network: net,
		Transport: vrrp.NewMemNet().Transport(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2"))})
	allMaster := func() bool {
		st := d.Status(context.Background())
		for _, v := range st.VRRP {
			if v.State != "MASTER" {
				return false
			}
		}
		return len(st.VRRP) == 3
	}
	waitTrue(t, "every instance MASTER", allMaster)
	units := func() (*vrrpUnit, *vrrpUnit) {
		d.mu.Lock()
		defer d.mu.Unlock()
		g, _ := d.units[unitKey{kindVRRP, "group G"}].unit.(*vrrpUnit)
		c, _ := d.units[unitKey{kindVRRP, "instance C"}].unit.(*vrrpUnit)
		return g, c
	}
	g0, c0 := units()
	if g0 == nil || c0 == nil || len(g0.instances) != 2 {
		t.Fatalf("units: group %v, instance %v", g0, c0)
	}
	if st := d.Status(context.Background()); st.VRRP[0].SyncGroup != "G" || st.VRRP[2].SyncGroup != "" {
		t.Errorf("sync group in status: %+v", st.VRRP)
	}

	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if g, c := units(); g != g0 || c != c0 {
		t.Error("an unchanged reload restarted a unit")
	}
	write("120")
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	g1, c1 := units()
	if g1 == g0 || c1 != c0 {
		t.Errorf("after a change to member A: group restarted %v (want true), C restarted %v (want false)", g1 != g0, c1 != c0)
	}
	waitTrue(t, "every instance MASTER again", allMaster)
	if !net.has("10.0.0.1/24") || !net.has("10.1.0.1/24") || !net.has("10.0.0.3/24") {
		t.Error("VIPs missing after the group restart")
	}
}

// startDirector runs a director until the end of the test, and fails the
// test if Run ends in an error.
func startDirector(t *testing.T, o Options) *Director {
	t.Helper()
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d
}

func waitTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An instance whose Run fails (here the transport has no IPv6 address for
// it) shows INIT with the reason in the status, and the director keeps
// running the rest.
func TestInstanceErrorInStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := `vrrp_instance A {
    interface eth0
    dont_track_primary
    virtual_router_id 1
    virtual_ipaddress {
        fd00::1/64
    }
}
vrrp_instance B {
    interface eth0
    dont_track_primary
    virtual_router_id 2
    version 3
    advert_int 0.1
    virtual_ipaddress {
        10.0.0.1/24
    }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{ConfigPath: path, IPVS: ipvs.NewMemory(), Network: &fakeNetwork{},
		Transport: vrrp.NewMemNet().Transport(netip.MustParseAddr("10.0.0.2"))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitTrue(t, "the instance's error in the status", func() bool {
		st := d.Status(context.Background())
		return len(st.VRRP) == 2 && st.VRRP[0].Error != "" && st.VRRP[0].State == "INIT" &&
			st.VRRP[1].Error == "" && st.VRRP[1].State == "MASTER"
	})
}

// lvs_timeouts reach the userspace backend, which keeps them as the
// kernel does.
func TestLVSTimeoutsUserspace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "global_defs {\n  lvs_timeouts tcp 600 tcpfin 60 udp 30\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := ipvs.NewUserspace(ipvs.UserspaceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() }) // after the director has stopped
	startDirector(t, Options{ConfigPath: path, IPVS: u, Network: &fakeNetwork{},
		Transport: vrrp.NewMemNet().Transport(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2"))})
	want := ipvs.Timeouts{TCP: 600 * time.Second, TCPFin: 60 * time.Second, UDP: 30 * time.Second}
	waitTrue(t, "lvs_timeouts applied", func() bool {
		to, err := u.Timeouts(context.Background())
		return err == nil && to == want
	})
}
