package director

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// Settings flow from global_defs into instances, and from virtual_server
// into real servers and checkers, as keepalived inherits them.
func TestLoadInheritance(t *testing.T) {
	path := writeTemp(t, `global_defs {
    vrrp_version 3
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 60
    smtp_alert_checker true
}
vrrp_instance V {
    interface eth0
    dont_track_primary
    virtual_router_id 9
    advert_int 0.5
    garp_master_repeat 7
    nopreempt
    virtual_ipaddress {
        10.0.0.9
    }
}
virtual_server 10.0.0.9 8080 {
    protocol TCP
    lb_algo wlc
    lb_kind NAT
    delay_loop 10
    retry 2
    warmup 0
    alpha
    inhibit_on_failure
    virtualhost www.example.org
    real_server 10.0.1.1 8080 {
        delay_before_retry 4
        HTTP_GET {
            url {
                path /health
            }
            connect_timeout 2
            retry 0
        }
        TCP_CHECK {
            connect_port 8443
        }
    }
}
`)
	p, warns := mustLoad(t, path, "")
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	wantVRRP := vrrp.Config{
		Name: "V", Interface: "eth0", VRID: 9, Version: 3, Priority: 100, AdvertInterval: 500 * time.Millisecond,
		NoPreempt: true, GARPMasterDelay: -1, GARPMasterRepeat: 7, GARPMasterRefresh: time.Minute,
		VIPs: []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.0.0.9/32")}},
	}
	if diff := cmp.Diff(wantVRRP, p.Instances[0].VRRP, ignorePos); diff != "" {
		t.Errorf("vrrp config (-want +got):\n%s", diff)
	}
	if len(p.Instances[0].Tracks) != 0 {
		t.Errorf("dont_track_primary: tracks %+v", p.Instances[0].Tracks)
	}
	rs := p.VirtualServers[0].RealServers[0]
	if !rs.InhibitOnFailure || !rs.SMTPAlert || rs.Weight != 1 || rs.Forward != ipvs.Masquerade {
		t.Errorf("real server: %+v", rs)
	}
	wantChecks := []healthcheck.Check{
		{Policy: healthcheck.Policy{DelayLoop: 10 * time.Second, ConnectTimeout: 2 * time.Second, Retry: healthcheck.NoRetry,
			DelayBeforeRetry: 4 * time.Second, Warmup: -1, Alpha: true},
			Checker: &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("10.0.1.1:8080")},
				VirtualHost: "www.example.org", URLs: []healthcheck.URL{{Path: "/health"}}}},
		{Policy: healthcheck.Policy{DelayLoop: 10 * time.Second, ConnectTimeout: 5 * time.Second, Retry: 2,
			DelayBeforeRetry: 4 * time.Second, Warmup: -1, Alpha: true},
			Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("10.0.1.1:8443")}}},
	}
	if diff := cmp.Diff(wantChecks, rs.Checks, ignorePos); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

// A virtual_server_group expands into one service per address, each with
// its own checkers; fwmark entries become fwmark services.
func TestLoadGroups(t *testing.T) {
	p, warns := mustLoad(t, corpus("fwmark_groups.conf"), "")
	var addrs []string
	for _, vs := range p.VirtualServers[:21] {
		addrs = append(addrs, vs.Service.Addr.String())
		if vs.Service.Port != 80 || vs.Service.Scheduler != "mh" || vs.Service.Flags != ipvs.MHPort|ipvs.MHFallback {
			t.Errorf("group service %+v", vs.Service)
		}
		if vs.RealServers[0].Forward != ipvs.Tunnel || vs.RealServers[0].Weight != 5 {
			t.Errorf("group real server %+v", vs.RealServers[0])
		}
	}
	if addrs[0] != "10.0.0.1" || addrs[9] != "10.0.0.10" || addrs[10] != "10.0.0.20" || addrs[16] != "10.0.1.0" || addrs[20] != "192.0.2.7" {
		t.Errorf("group addresses %v", addrs)
	}
	if p.VirtualServers[0].RealServers[0].Checks[0].Checker == p.VirtualServers[1].RealServers[0].Checks[0].Checker {
		t.Error("two services share a checker")
	}
	fw := p.VirtualServers[21]
	if fw.Service.FWMark != 100 || fw.Service.Family != ipvs.Inet || fw.Service.PersistenceTimeout != 300*time.Second {
		t.Errorf("fwmark service %+v", fw.Service)
	}
	// lvs_method TUN type gue port 6080 csum reaches the destination.
	rs := p.VirtualServers[0].RealServers[0]
	if rs.TunnelType != ipvs.TunnelGUE || rs.TunnelPort != 6080 || rs.TunnelFlags != ipvs.TunnelCsum {
		t.Errorf("tunnel options of %s: type %v port %d flags %v, want gue 6080 csum", rs.Addr, rs.TunnelType, rs.TunnelPort, rs.TunnelFlags)
	}
	for _, w := range warns {
		if w.Keyword == "lb_kind" {
			t.Errorf("unexpected lb_kind warning: %v", w)
		}
	}
}

// "state" is keepalived's initial wantstate: MASTER makes an unset
// priority 255 and clears nopreempt and preempt_delay with keepalived's
// warnings; BACKUP is passed as such.
func TestLoadInitialState(t *testing.T) {
	path := writeTemp(t, `vrrp_instance A {
    state MASTER
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        10.0.0.1
    }
}
vrrp_instance B {
    state MASTER
    interface eth0
    virtual_router_id 2
    priority 150
    nopreempt
    preempt_delay 5
    virtual_ipaddress {
        10.0.0.2
    }
}
vrrp_instance C {
    state BACKUP
    interface eth0
    virtual_router_id 3
    virtual_ipaddress {
        10.0.0.3
    }
}
`)
	p, warns := mustLoad(t, path, "")
	type got struct {
		Priority     int
		InitialState vrrp.State
	}
	var gots []got
	for _, in := range p.Instances {
		gots = append(gots, got{in.VRRP.Priority, in.VRRP.InitialState})
	}
	want := []got{{255, vrrp.StateMaster}, {150, vrrp.StateMaster}, {100, vrrp.StateBackup}}
	if diff := cmp.Diff(want, gots); diff != "" {
		t.Errorf("priority and initial state (-want +got):\n%s", diff)
	}
	wantWarn := []string{
		path + ":14:5: nopreempt will not work with initial state MASTER - clearing (as keepalived does)",
		path + ":15:5: preempt delay will not work with initial state MASTER - clearing (as keepalived does)",
	}
	if diff := cmp.Diff(wantWarn, warnStrings(warns)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
