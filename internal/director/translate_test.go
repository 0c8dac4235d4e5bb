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
	"github.com/lvskit/lvskit/internal/alert"
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
		Tracks:    []TrackPlan{{Kind: TrackInterface, Name: "eth0", Interface: "eth0"}},
		SMTPAlert: true,
		AuthType:  "PASS",
	}
	if diff := cmp.Diff([]InstancePlan{wantInst}, p.Instances, ignorePos); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	wantAlert := &alert.Config{RouterID: "lvs_1", From: "lvs_1@example.com", To: []string{"admin@example.com", "ops@example.com"},
		Server: "127.0.0.1:25", ConnectTimeout: 30 * time.Second}
	if diff := cmp.Diff(wantAlert, p.Alert); diff != "" {
		t.Errorf("alert (-want +got):\n%s", diff)
	}
	wantSync := &SyncDaemonPlan{Instance: "VI_1", Daemon: ipvs.SyncDaemon{Interface: "eth0", SyncID: 51}}
	if diff := cmp.Diff(wantSync, p.SyncDaemon, ignorePos); diff != "" {
		t.Errorf("sync daemon (-want +got):\n%s", diff)
	}
	check := func(ip string) []healthcheck.Check {
		return []healthcheck.Check{{
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
			realServer(ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.1"), Port: 80, Weight: 3, Forward: ipvs.DirectRoute}, false, check("192.168.0.1")),
			realServer(ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.2"), Port: 80, Weight: 1, Forward: ipvs.DirectRoute}, false, check("192.168.0.2")),
		},
	}}
	if diff := cmp.Diff(wantVS, p.VirtualServers, ignorePos); diff != "" {
		t.Errorf("virtual servers (-want +got):\n%s", diff)
	}
	if p.RouterID != "lvs_1" {
		t.Errorf("RouterID = %q", p.RouterID)
	}
	// The userspace backend cannot do DR: it rejects the file with the
	// position of lb_kind.
	err := checkCapabilities(p, ipvs.KindUserspace)
	if err == nil {
		t.Fatal("CheckCapabilities(userspace) accepted lb_kind DR")
	}
	want := path + ":36:5: lb_kind DR: not supported by the userspace backend (destination 192.168.0.1:80: forwarding dr: not supported)"
	if ds := Diagnostics(err); len(ds) == 0 || ds[0].String() != want {
		t.Errorf("CheckCapabilities(userspace) = %v, want first %q", ds, want)
	}
	if err := checkCapabilities(p, ipvs.KindNetlink); err != nil {
		t.Errorf("CheckCapabilities(netlink) = %v", err)
	}
	// "state MASTER" is keepalived's initial wantstate, implemented: no
	// warning.
	if diff := cmp.Diff([]string(nil), warnStrings(warns)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// realServer is the plan of a real server: the destination, with
// inhibit_on_failure, and its checks.
func realServer(d ipvs.Destination, inhibit bool, checks []healthcheck.Check) RealServerPlan {
	return RealServerPlan{RealServer: healthcheck.RealServer{Destination: d, InhibitOnFailure: inhibit, Checks: checks}}
}

// checkCapabilities checks p against what a backend of the kind can carry.
func checkCapabilities(p *Plan, kind string) error {
	caps, ok := ipvs.CapabilitiesOf(kind)
	if !ok {
		panic("no capabilities for " + kind)
	}
	return p.CheckCapabilities(kind, caps)
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
			if p.RouterID != tc.router || p.Instances[0].VRRP.Priority != tc.prio {
				t.Errorf("router %q priority %d, want %q %d", p.RouterID, p.Instances[0].VRRP.Priority, tc.router, tc.prio)
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
		{file: "unimplemented.conf", instances: 1, vs: 1}, // VI_1 has no VIP: keepalived runs it
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
		realServer(ipvs.Destination{Addr: netip.MustParseAddr("192.168.10.1"), Port: 25, Weight: 1}, true, []healthcheck.Check{{
			Policy:  healthcheck.Policy{DelayLoop: 20 * time.Second, ConnectTimeout: 3 * time.Second},
			Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("192.168.10.1:25")}},
		}}),
		realServer(ipvs.Destination{Addr: netip.MustParseAddr("192.168.10.2"), Port: 25, Weight: 2}, true, []healthcheck.Check{{
			Policy:  healthcheck.Policy{DelayLoop: 20 * time.Second, ConnectTimeout: 3 * time.Second, Retry: 2},
			Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("192.168.10.2:2525")}},
		}}),
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
	// The userspace backend has no one-packet scheduling.
	if err := checkCapabilities(p, ipvs.KindUserspace); err == nil || !strings.Contains(err.Error(), "ops: not supported by the userspace backend") {
		t.Errorf("CheckCapabilities(userspace) = %v", err)
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
