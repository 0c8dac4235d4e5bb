package keepalived

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInheritance(t *testing.T) {
	cfg := mustParse(t, `
global_defs {
    vrrp_garp_master_delay 10
    vrrp_garp_master_refresh 60
    smtp_alert_checker no
    smtp_alert yes
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    garp_master_repeat 2
    virtual_ipaddress {
        10.0.0.1/24
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    smtp_alert off
    virtual_ipaddress {
        fe80::1/64
    }
}
virtual_server 10.0.0.1 80 {
    lb_kind DR
    weight 4
    delay_loop 10
    retry 0
    warmup 5
    inhibit_on_failure
    virtualhost vs.example.com
    real_server 10.0.1.1 80 {
        connect_timeout 2
        alpha
        virtualhost rs.example.com
        HTTP_GET {
            delay_loop 3
            url {
                path /
            }
            url {
                path /v
                virtualhost url.example.com
            }
        }
    }
    real_server 10.0.1.2 80 {
        weight 7
        lvs_method NAT
        inhibit_on_failure off
        smtp_alert on
        TCP_CHECK {
        }
    }
}
`, Options{})
	vs := &cfg.VirtualServers[0]
	rs1, rs2 := &vs.RealServers[0], &vs.RealServers[1]
	ck := &rs1.Checkers[0]
	got := vs.CheckerTiming(rs1, ck)
	want := CheckerTiming{
		DelayLoop:      Value[time.Duration]{V: 3 * time.Second, Pos: ck.DelayLoop.Pos},
		ConnectTimeout: Value[time.Duration]{V: 2 * time.Second, Pos: rs1.ConnectTimeout.Pos},
		Retry:          Value[int]{V: 0, Pos: vs.Retry.Pos},
		Warmup:         Value[time.Duration]{V: 5 * time.Second, Pos: vs.Warmup.Pos},
		Alpha:          Value[bool]{V: true, Pos: rs1.Alpha.Pos},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckerTiming (-want +got):\n%s", diff)
	}
	if got := vs.CheckerTiming(rs2, &rs2.Checkers[0]).DelayLoop.V; got != 10*time.Second {
		t.Errorf("TCP_CHECK delay_loop = %v, want the virtual server's 10s", got)
	}
	if vs.RealServerForwarding(rs1).Method != "DR" || vs.RealServerForwarding(rs2).Method != "NAT" {
		t.Errorf("forwarding = %v, %v; want DR, NAT", vs.RealServerForwarding(rs1), vs.RealServerForwarding(rs2))
	}
	if vs.RealServerWeight(rs1) != 4 || vs.RealServerWeight(rs2) != 7 || (&VirtualServer{}).RealServerWeight(&RealServer{}) != 1 {
		t.Errorf("weights = %d, %d; want 4 (virtual server), 7", vs.RealServerWeight(rs1), vs.RealServerWeight(rs2))
	}
	if !vs.RealServerInhibit(rs1) || vs.RealServerInhibit(rs2) {
		t.Errorf("inhibit_on_failure = %v, %v; want true, false", vs.RealServerInhibit(rs1), vs.RealServerInhibit(rs2))
	}
	urls := ck.HTTP.URLs
	if a, b := vs.URLVirtualhost(rs1, ck, &urls[0]), vs.URLVirtualhost(rs1, ck, &urls[1]); a != "rs.example.com" || b != "url.example.com" {
		t.Errorf("virtualhosts = %q, %q", a, b)
	}
	a, b := &cfg.Instances[0], &cfg.Instances[1]
	if diff := cmp.Diff(GARP{
		MasterDelay: 10 * time.Second, MasterRepeat: 2, LowerPrioDelay: 10 * time.Second, LowerPrioRepeat: 2,
		MasterRefresh: time.Minute, MasterRefreshRepeat: 1,
	}, cfg.GARP(a)); diff != "" {
		t.Errorf("GARP (-want +got):\n%s", diff)
	}
	if cfg.VRRPVersion(a) != 2 || cfg.VRRPVersion(b) != 3 {
		t.Errorf("versions = %d, %d; want 2, 3", cfg.VRRPVersion(a), cfg.VRRPVersion(b))
	}
	if !cfg.SMTPAlert(a) || cfg.SMTPAlert(b) {
		t.Errorf("instance smtp alerts = %v, %v; want true (global), false", cfg.SMTPAlert(a), cfg.SMTPAlert(b))
	}
	if cfg.RealServerSMTPAlert(rs1) || !cfg.RealServerSMTPAlert(rs2) {
		t.Errorf("real server smtp alerts = %v, %v; want false (smtp_alert_checker no), true", cfg.RealServerSMTPAlert(rs1), cfg.RealServerSMTPAlert(rs2))
	}
	if cfg.QuorumSMTPAlert(vs) {
		t.Error("quorum smtp alert = true, want false (smtp_alert_checker no)")
	}
	empty := &Config{}
	if g := empty.GARP(&VRRPInstance{}); g.MasterDelay != 5*time.Second || g.MasterRepeat != 5 || g.MasterRefreshRepeat != 1 {
		t.Errorf("default GARP = %+v", g)
	}
	if !empty.RealServerSMTPAlert(&RealServer{}) {
		t.Error("real server e-mail default should be on")
	}
}
