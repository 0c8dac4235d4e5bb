package director

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// ignorePos compares plans without source positions, and checkers by
// their configuration (not the state they keep between probes).
var ignorePos = cmp.Options{
	cmpopts.IgnoreTypes(keepalived.Pos{}),
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{}),
	cmpopts.IgnoreUnexported(healthcheck.HTTPChecker{}, healthcheck.TCPChecker{}, healthcheck.UDPChecker{},
		healthcheck.DNSChecker{}, healthcheck.SMTPChecker{}, healthcheck.PingChecker{},
		healthcheck.MiscChecker{}, healthcheck.FileChecker{}),
}

func corpus(name string) string { return filepath.Join("..", "keepalived", "testdata", name) }

func mustLoad(t *testing.T, path, host string) (*Plan, []Warning) {
	t.Helper()
	p, warns, err := Load(path, host)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return p, warns
}

// The book's MASTER director, translated field by field.
func TestLoadBookLVS1(t *testing.T) {
	path := corpus("book_lvs_1.conf")
	p, warns := mustLoad(t, path, "")
	vip := netip.MustParseAddr("192.168.0.253")

	wantInst := InstancePlan{
		VRRP: vrrp.Config{
			Name: "VI_1", Interface: "eth0", VRID: 51, Priority: 100, AdvertInterval: time.Second,
			AuthPass: "1111", InitialState: vrrp.StateMaster,
			VIPs: []vrrp.VIP{{Prefix: netip.MustParsePrefix("192.168.0.253/24"), Link: "eth0", Label: "eth0:1"}},
		},
		Tracks:    []TrackPlan{{Kind: "interface", Name: "eth0", Interface: "eth0"}},
		Priority:  100,
		SMTPAlert: true,
	}
	if diff := cmp.Diff([]InstancePlan{wantInst}, p.Instances, ignorePos); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	wantAlert := &AlertPlan{RouterID: "lvs_1", From: "lvs_1@example.com", To: []string{"admin@example.com", "ops@example.com"},
		Server: "127.0.0.1:25", ConnectTimeout: 30 * time.Second}
	if diff := cmp.Diff(wantAlert, p.Alert); diff != "" {
		t.Errorf("alert (-want +got):\n%s", diff)
	}
	wantSync := &SyncDaemonPlan{Instance: "VI_1", Daemon: ipvs.SyncDaemon{Interface: "eth0", SyncID: 51}}
	if diff := cmp.Diff(wantSync, p.SyncDaemon, ignorePos); diff != "" {
		t.Errorf("sync daemon (-want +got):\n%s", diff)
	}
	check := func(ip string) []CheckPlan {
		return []CheckPlan{{
			Kind:   keepalived.HTTPGet,
			Policy: healthcheck.Policy{DelayLoop: 6 * time.Second, ConnectTimeout: 3 * time.Second, Retry: 3, DelayBeforeRetry: 3 * time.Second},
			Checker: &healthcheck.HTTPChecker{
				Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort(ip + ":80")},
				URLs: []healthcheck.URL{{Path: "/", StatusCodes: []healthcheck.StatusRange{{Min: 200, Max: 200}}}},
			},
		}}
	}
	wantVS := []VirtualServerPlan{{
		Service: ipvs.Service{Protocol: ipvs.TCP, Addr: vip, Port: 80, Scheduler: "wrr", PersistenceTimeout: 50 * time.Second},
		Quorum:  1,
		RealServers: []RealServerPlan{
			{Addr: netip.MustParseAddr("192.168.0.1"), Port: 80, Weight: 3, Forward: ipvs.DirectRoute, Checks: check("192.168.0.1")},
			{Addr: netip.MustParseAddr("192.168.0.2"), Port: 80, Weight: 1, Forward: ipvs.DirectRoute, Checks: check("192.168.0.2")},
		},
	}}
	if diff := cmp.Diff(wantVS, p.VirtualServers, ignorePos); diff != "" {
		t.Errorf("virtual servers (-want +got):\n%s", diff)
	}
	if p.RouterID != "lvs_1" {
		t.Errorf("RouterID = %q", p.RouterID)
	}
	// DR is kernel-only: the userspace backend rejects the file with the
	// position of lb_kind.
	err := p.CheckBackend(BackendUserspace)
	if err == nil {
		t.Fatal("CheckBackend(userspace) accepted lb_kind DR")
	}
	want := path + ":36:5: lb_kind DR needs kernel IPVS (the userspace backend forwards like NAT only); the backend is userspace"
	if ds := Diagnostics(err); len(ds) == 0 || ds[0].String() != want {
		t.Errorf("CheckBackend(userspace) = %v, want first %q", ds, want)
	}
	if err := p.CheckBackend(BackendNetlink); err != nil {
		t.Errorf("CheckBackend(netlink) = %v", err)
	}
	// "state MASTER" is keepalived's initial wantstate, implemented: no
	// warning.
	if diff := cmp.Diff([]string(nil), warnStrings(warns)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func warnStrings(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

// One file for both directors, selected by the config-id.
func TestLoadBookClusterConfigID(t *testing.T) {
	for _, tc := range []struct {
		host   string
		router string
		prio   int
	}{{"lvs_1", "lvs_1", 100}, {"lvs_2", "lvs_2", 99}} {
		t.Run(tc.host, func(t *testing.T) {
			p, _ := mustLoad(t, corpus("book_cluster.conf"), tc.host)
			if p.RouterID != tc.router || p.Instances[0].Priority != tc.prio || p.Instances[0].VRRP.Priority != tc.prio {
				t.Errorf("router %q priority %d, want %q %d", p.RouterID, p.Instances[0].Priority, tc.router, tc.prio)
			}
			if len(p.VirtualServers) != 1 || len(p.VirtualServers[0].RealServers) != 2 {
				t.Fatalf("virtual servers: %+v", p.VirtualServers)
			}
			rs := p.VirtualServers[0].RealServers[1]
			if rs.Addr != netip.MustParseAddr("192.168.0.2") || rs.Checks[0].Policy.ConnectTimeout != 3*time.Second ||
				rs.Checks[0].Policy.DelayLoop != 6*time.Second {
				t.Errorf("second real server: %+v", rs)
			}
		})
	}
}

// Every file of the parser's corpus loads (or fails as expected) and
// keeps what it says.
func TestLoadCorpus(t *testing.T) {
	for _, tc := range []struct {
		file               string
		instances, vs, sgs int
		err                string
	}{
		{file: "book_lvs_2.conf", instances: 1, vs: 1},
		{file: "checkers.conf", vs: 2},
		{file: "fwmark_groups.conf", vs: 21 + 1},
		{file: "ipv6.conf", instances: 1, vs: 1},
		{file: "lvs_dr_http.conf", instances: 1, vs: 2},
		{file: "lvs_nat_tcp.conf", instances: 2, vs: 2, sgs: 1},
		{file: "sync_scripts.conf", instances: 2, sgs: 1},
		{file: "vrrp_only.conf", instances: 2},
		{file: "unimplemented.conf", err: `:13:1: vrrp_instance "VI_1": no virtual_ipaddress`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p, _, err := Load(corpus(tc.file), "")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Load error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(p.Instances) != tc.instances || len(p.VirtualServers) != tc.vs || len(p.SyncGroups) != tc.sgs {
				t.Errorf("instances %d, virtual servers %d, sync groups %d; want %d %d %d",
					len(p.Instances), len(p.VirtualServers), len(p.SyncGroups), tc.instances, tc.vs, tc.sgs)
			}
		})
	}
}

// The NAT corpus file: sorry server, inhibit, lvs_method, connect_port,
// ops, DNS checks, sync group membership, lvs_timeouts.
func TestLoadNAT(t *testing.T) {
	p, _ := mustLoad(t, corpus("lvs_nat_tcp.conf"), "")
	if p.Instances[0].SyncGroup != "NAT" || p.Instances[1].SyncGroup != "NAT" {
		t.Errorf("sync group membership: %q %q", p.Instances[0].SyncGroup, p.Instances[1].SyncGroup)
	}
	if diff := cmp.Diff([]string{"VI_OUT", "VI_IN"}, p.SyncGroups[0].Members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if want := (ipvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); p.LVSTimeouts != want {
		t.Errorf("LVSTimeouts = %+v", p.LVSTimeouts)
	}
	smtp := p.VirtualServers[0]
	if diff := cmp.Diff(&healthcheck.SorryServer{Addr: netip.MustParseAddr("192.168.10.100"), Port: 25, Inhibit: true}, smtp.SorryServer, ignorePos); diff != "" {
		t.Errorf("sorry server (-want +got):\n%s", diff)
	}
	wantRS := []RealServerPlan{
		{Addr: netip.MustParseAddr("192.168.10.1"), Port: 25, Weight: 1, InhibitOnFailure: true, Checks: []CheckPlan{{
			Kind: keepalived.TCPCheck, Policy: healthcheck.Policy{DelayLoop: 20 * time.Second, ConnectTimeout: 3 * time.Second},
			Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("192.168.10.1:25")}},
		}}},
		{Addr: netip.MustParseAddr("192.168.10.2"), Port: 25, Weight: 2, InhibitOnFailure: true, Checks: []CheckPlan{{
			Kind: keepalived.TCPCheck, Policy: healthcheck.Policy{DelayLoop: 20 * time.Second, ConnectTimeout: 3 * time.Second, Retry: 2},
			Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("192.168.10.2:2525")}},
		}}},
	}
	if diff := cmp.Diff(wantRS, smtp.RealServers, ignorePos); diff != "" {
		t.Errorf("real servers (-want +got):\n%s", diff)
	}
	dns := p.VirtualServers[1]
	if dns.Service.Protocol != ipvs.UDP || dns.Service.Flags != ipvs.OnePacket || dns.Service.Scheduler != "lc" {
		t.Errorf("dns service: %+v", dns.Service)
	}
	if diff := cmp.Diff(&healthcheck.DNSChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("192.168.10.1:53")}, Type: "A", Name: "www.example.com"},
		dns.RealServers[0].Checks[0].Checker, ignorePos); diff != "" {
		t.Errorf("dns checker (-want +got):\n%s", diff)
	}
	// ops needs the kernel.
	if err := p.CheckBackend(BackendUserspace); err == nil || !strings.Contains(err.Error(), "ops needs kernel IPVS") {
		t.Errorf("CheckBackend(userspace) = %v", err)
	}
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

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
	wantChecks := []CheckPlan{
		{Kind: keepalived.HTTPGet,
			Policy: healthcheck.Policy{DelayLoop: 10 * time.Second, ConnectTimeout: 2 * time.Second, Retry: healthcheck.NoRetry,
				DelayBeforeRetry: 4 * time.Second, Warmup: -1, Alpha: true},
			Checker: &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("10.0.1.1:8080")},
				VirtualHost: "www.example.org", URLs: []healthcheck.URL{{Path: "/health"}}}},
		{Kind: keepalived.TCPCheck,
			Policy: healthcheck.Policy{DelayLoop: 10 * time.Second, ConnectTimeout: 5 * time.Second, Retry: 2,
				DelayBeforeRetry: 4 * time.Second, Warmup: -1, Alpha: true},
			Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("10.0.1.1:8443")}}},
	}
	if diff := cmp.Diff(wantChecks, rs.Checks, ignorePos); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

// Semantic errors reject the file, each with its position.
func TestLoadErrors(t *testing.T) {
	const inst = "vrrp_instance V {\n    interface eth0\n    virtual_router_id 9\n    virtual_ipaddress {\n        10.0.0.9\n    }\n"
	for _, tc := range []struct {
		name, text string
		want       []string // ":line:col: message" suffixes, in order
	}{
		{"unknown track_script", inst + "    track_script {\n        nope\n    }\n}\n",
			[]string{`:8:9: track_script: no vrrp_script named "nope"`}},
		{"missing group", "virtual_server group NOPE {\n    real_server 10.0.0.1 80 {\n    }\n}\n",
			[]string{`:1:1: virtual_server: no virtual_server_group named "NOPE"`}},
		{"AH authentication", inst + "    authentication {\n        auth_type AH\n        auth_pass x\n    }\n}\n",
			[]string{`:7:5: authentication: auth_type AH is not supported by lvskit (only PASS)`}},
		{"weight over the kernel's", "virtual_server 10.0.0.9 80 {\n    real_server 10.0.0.1 80 {\n        weight 70000\n    }\n}\n",
			[]string{`:3:9: weight: 70000 is out of range [0, 65535]`}},
		{"IPv6 VIP in version 2", "vrrp_instance V {\n    interface eth0\n    virtual_router_id 9\n    version 2\n    virtual_ipaddress {\n        fd00::9\n    }\n}\n",
			[]string{`:1:1: vrrp_instance "V": new vrrp instance: config: version 2 carries IPv4 only; use version 3 for IPv6`}},
		{"route table name", inst + "    virtual_routes {\n        10.1.0.0/16 via 10.0.0.1 table web\n    }\n}\n",
			[]string{`:8:9: virtual_routes: table "web": only numeric tables and main are supported`}},
		{"two errors", "virtual_server 10.0.0.9 80 {\n    real_server 10.0.0.1 80 {\n        weight 70000\n    }\n    real_server 10.0.0.2 80 {\n        weight 70001\n    }\n}\n",
			[]string{`:3:9: weight: 70000`, `:6:9: weight: 70001`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, tc.text)
			_, _, err := Load(path, "")
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			ds := Diagnostics(err)
			if len(ds) != len(tc.want) {
				t.Fatalf("diagnostics %v, want %d", ds, len(tc.want))
			}
			for i, w := range tc.want {
				if got := ds[i].String(); !strings.HasPrefix(got, path+w) {
					t.Errorf("diagnostic %d = %q, want prefix %q", i, got, path+w)
				}
			}
		})
	}
}

// Keywords the director parses but does not implement each give a warning
// naming them, at their position.
func TestLoadWarnings(t *testing.T) {
	path := writeTemp(t, `global_defs {
    vrrp_strict
    script_user nobody
}
vrrp_instance V {
    interface eth0
    virtual_router_id 9
    mcast_dst_ip 224.0.0.99
    promote_secondaries
    virtual_ipaddress {
        10.0.0.9 scope link
    }
}
static_ipaddress {
    10.9.9.9/24 dev eth0
}
virtual_server 10.0.0.9 80 {
    ha_suspend
    real_server 10.0.0.1 80 {
        TCP_CHECK {
            log_all_failures
        }
    }
}
`)
	_, warns := mustLoad(t, path, "")
	type kw struct {
		Line, Col int
		Keyword   string
	}
	var got []kw
	for _, w := range warns {
		got = append(got, kw{w.Pos.Line, w.Pos.Col, w.Keyword})
		if !strings.Contains(w.Msg, "not implemented") {
			t.Errorf("warning %v does not say it is not implemented", w)
		}
	}
	want := []kw{
		{2, 5, "vrrp_strict"}, {3, 5, "script_user"}, {8, 5, "mcast_dst_ip"}, {9, 5, "promote_secondaries"},
		{11, 9, "virtual_ipaddress"}, {15, 5, "static_ipaddress"}, {18, 5, "ha_suspend"}, {21, 13, "log_all_failures"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
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
