package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/bgp"
	"github.com/lvskit/lvskit/internal/director"
)

// printStatus lays the virtual servers out as `ipvsadm -Ln` does, with a
// health column, after the VRRP instances.
func TestPrintStatus(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &director.Status{
		Time: now, RouterID: "lvs1", Config: "/etc/keepalived/keepalived.conf", Backend: "netlink", ReloadsOK: 1, IPVSWrites: 7,
		VRRP: []director.VRRPStatus{{
			Name: "VI_1", State: "MASTER", Interface: "eth0", VRID: 51, Version: 2, Priority: 150, EffectivePriority: 140,
			Master: "192.168.0.200", VIPs: []string{"192.168.0.253/24 dev eth0 label eth0:1"},
			LastTransition: now.Add(-192*time.Second - 300*time.Millisecond), Transitions: 2,
			Counters: director.VRRPCounters{AdvertsSent: 190, BecameMaster: 1, Drops: map[string]uint64{"ttl": 2, "auth": 1}},
		}},
		Scripts: []director.ScriptStatus{{Name: "chk_web", Status: "GOOD"}},
		VirtualServers: []director.VirtualServerStatus{{
			Service: "TCP 192.168.0.253:80", Protocol: "TCP", Address: "192.168.0.253:80", Scheduler: "wrr",
			Persistence: 50, QuorumUp: true, InTable: true,
			RealServers: []director.RealServerStatus{
				{Address: "192.168.0.1:80", Weight: 3, Forward: "dr", Healthy: true, InTable: true, TableWeight: 3, ActiveConns: 12, InactiveConns: 40},
				{Address: "192.168.0.2:80", Weight: 1, Forward: "dr", Healthy: false},
			},
		}, {
			Service: "FWM 7 inet", Protocol: "FWM", Address: "7", Scheduler: "sh", Flags: []string{"sh-port"}, QuorumUp: false,
		}},
		SyncDaemon: &director.SyncDaemonStatus{Instance: "VI_1", Interface: "eth0", Role: "master"},
	}
	var b bytes.Buffer
	printStatus(&b, st)
	want := `director lvs1: config /etc/keepalived/keepalived.conf, IPVS backend netlink
reloads: 1 ok, 0 failed; IPVS writes: 7

VRRP instances
  VI_1: MASTER for 3m12s, 2 transitions
    interface eth0, VRID 51, version 2, priority 150, effective 140, master 192.168.0.200 (this director)
    VIP 192.168.0.253/24 dev eth0 label eth0:1
    adverts sent 190 (priority 0: 0), received 0 (priority 0: 0); became master 1, left master 0
    dropped: auth 1, ttl 2

VRRP scripts
  chk_web: GOOD

IP Virtual Server (netlink)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health
TCP  192.168.0.253:80 wrr persistent 50  [quorum up]
  -> 192.168.0.1:80               Route   3      12         40         up
  -> 192.168.0.2:80               Route   -      -          -          down (not in the table)
FWM  7 sh (sh-port)  [quorum down, not in the table]

Sync daemon: master on eth0, following VI_1
`
	if b.String() != want {
		t.Errorf("status:\n%s\nwant:\n%s", b.String(), want)
		gl, wl := strings.Split(b.String(), "\n"), strings.Split(want, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Errorf("first difference, line %d:\n got %q\nwant %q", i+1, gl[i], wl[i])
				break
			}
		}
	}
}

// Without a director on the socket, status fails with exit 1 and says
// where it looked.
func TestStatusNoDirector(t *testing.T) {
	var out, errb bytes.Buffer
	sock := t.TempDir() + "/none.sock"
	if code := runStatus([]string{"--socket", sock}, &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "reach the director on "+sock) {
		t.Errorf("stderr: %s", errb.String())
	}
	if code := runStatus([]string{"extra"}, &out, &errb); code != 2 {
		t.Errorf("status extra: exit %d, want 2", code)
	}
}

// With a bgp block, status shows the sessions and each announced address
// with its route's state and whether its quorum wants it.
func TestPrintStatusBGP(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &director.Status{Time: now, RouterID: "lvs_a", Config: "k.conf", Backend: "nftables",
		BGP: &director.BGPStatus{
			Status: bgp.Status{
				Running: true,
				Peers: []bgp.PeerStatus{
					{Address: netip.MustParseAddr("192.168.0.254"), ASN: 65000, State: bgp.Established, Since: now.Add(-90 * time.Second), BFD: bgp.BFDUp, Sent: 1},
					{Address: netip.MustParseAddr("192.168.0.253"), ASN: 65001, Internal: true, State: bgp.Active, Flaps: 2, LastError: "hold timer expired", BFD: bgp.BFDDisabled},
				},
				Routes: []bgp.RouteStatus{{Route: bgp.Route{Prefix: netip.MustParsePrefix("198.51.100.10/32")}, State: bgp.RouteAnnounced}},
			},
			Announce: []director.AnnounceStatus{
				{Address: netip.MustParseAddr("198.51.100.10"), QuorumUp: true, Services: []string{"TCP 198.51.100.10:80", "TCP 198.51.100.10:443"}},
				{Address: netip.MustParseAddr("198.51.100.11"), Services: []string{"TCP 198.51.100.11:80"}},
			},
		}}
	var b bytes.Buffer
	printStatus(&b, st)
	want := `
BGP (running)
  neighbor 192.168.0.254 AS 65000 (eBGP): established for 1m30s, BFD up, 0 flaps, 1 prefixes sent
  neighbor 192.168.0.253 AS 65001 (iBGP): active, BFD disabled, 2 flaps, 0 prefixes sent
    last error: hold timer expired
  announce 198.51.100.10: announced, quorum up (TCP 198.51.100.10:80, TCP 198.51.100.10:443)
  announce 198.51.100.11: not announced, quorum down (TCP 198.51.100.11:80)
`
	if got := b.String(); !strings.HasSuffix(got, want) {
		t.Errorf("status ends with:\n%s\nwant:\n%s", got, want)
	}
}
