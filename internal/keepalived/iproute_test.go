package keepalived

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// The route and rule lines of keepalived.conf(5)'s static_routes and
// static_rules examples parse without a warning for what lvskit
// implements (next hops, metrics, tos, realms, rule actions and
// selectors), but for keepalived's own about "or".
func TestIPRouteOptions(t *testing.T) {
	conf := `static_routes {
  192.168.100.0/24 table 6909 nexthop via 192.168.101.1 dev wlan0 onlink weight 1 nexthop via 192.168.101.2 dev wlan0 onlink weight 2
  192.168.200.0/24 dev p33p1.2 table 6909 tos 0x04 protocol bird scope link priority 12 mtu 1000 hoplimit 100 advmss 101 ssthresh lock 107 realms 20 features ecn congctl reno
  192.168.113.0/24 via 192.168.200.254 or 192.168.100.254 dev eth1
}
static_rules {
  not from 192.168.28.0/24 to 192.168.29.0/26 table 7 tos 22 fwmark 24/12 preference 39 realms 30/20
  to 1:2:3:4:5:6:7:0/112 from 7:6:5:4:3:2::/96 uidrange 10000-19999 goto 40
  from 192.168.30.0/24 ipproto tcp sport 10-20 dport 20-30 protocol 12 blackhole
}
`
	cfg, warns, err := Parse(strings.NewReader(conf), "t.conf", Options{FS: fstest.MapFS{}})
	if err != nil {
		t.Fatal(err)
	}
	// The one warning is keepalived's own: "or" is deprecated.
	if len(warns) != 1 || !strings.HasPrefix(fmt.Sprint(warns[0]), `t.conf:4:40: static_routes: "or" is deprecated`) {
		t.Errorf("warnings: %v", warns)
	}
	p := func(line, col int) Pos { return Pos{File: "t.conf", Line: line, Col: col} }
	r0, r1, r2 := cfg.StaticRoutes[0], cfg.StaticRoutes[1], cfg.StaticRoutes[2]
	wantNH := []Nexthop{
		{Pos: p(2, 31), Via: ip("192.168.101.1"), Dev: "wlan0", OnLink: true, Weight: Value[int]{V: 1, Pos: p(2, 74)}},
		{Pos: p(2, 83), Via: ip("192.168.101.2"), Dev: "wlan0", OnLink: true, Weight: Value[int]{V: 2, Pos: p(2, 126)}},
	}
	if diff := cmp.Diff(wantNH, r0.Nexthops, exactCmp); diff != "" {
		t.Errorf("next hops (-want +got):\n%s", diff)
	}
	if r0.Table != "6909" {
		t.Errorf("table = %q", r0.Table)
	}
	var opts []string
	for _, o := range r1.Options {
		s := o.Name + "=" + o.Value
		if o.Lock {
			s += "(lock)"
		}
		opts = append(opts, s)
	}
	wantOpts := []string{"tos=0x04", "mtu=1000", "hoplimit=100", "advmss=101", "ssthresh=107(lock)", "realms=20", "features=ecn", "congctl=reno"}
	if diff := cmp.Diff(wantOpts, opts); diff != "" {
		t.Errorf("route options (-want +got):\n%s", diff)
	}
	if r1.Protocol != "bird" || r1.Scope != "link" || r1.Metric.V != 12 || len(r1.Extra) != 0 {
		t.Errorf("route 2: %+v", r1)
	}
	if r2.Via != ip("192.168.200.254") || r2.Or != ip("192.168.100.254") || r2.Dev != "eth1" {
		t.Errorf("route 3: %+v", r2)
	}

	u0, u1, u2 := cfg.StaticRules[0], cfg.StaticRules[1], cfg.StaticRules[2]
	if !u0.Not || u0.Table != "7" || u0.FwMark != "24/12" || u0.Priority.V != 39 || len(u0.Options) != 2 || u0.Options[1].Value != "30/20" {
		t.Errorf("rule 1: %+v", u0)
	}
	if u1.Goto.V != 40 || u1.Goto.Pos != p(8, 69) || len(u1.Options) != 1 || u1.Options[0].Name != "uidrange" {
		t.Errorf("rule 2: %+v", u1)
	}
	if u2.Action.V != "blackhole" || u2.Action.Pos != p(9, 72) || len(u2.Options) != 4 {
		t.Errorf("rule 3: %+v", u2)
	}
}
