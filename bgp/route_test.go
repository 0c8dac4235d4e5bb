package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCommunity(t *testing.T) {
	tests := []struct {
		in   string
		want Community
		err  string
	}{
		{in: "65000:100", want: 65000<<16 | 100},
		{in: "0:0", want: 0},
		{in: "65535:65535", want: 0xFFFFFFFF},
		{in: "no-export", want: NoExport},
		{in: "NO-ADVERTISE", want: NoAdvertise},
		{in: "local-AS", want: NoExportSubconfed},
		{in: "65536:1", err: "AS"},
		{in: "1:65536", err: "value"},
		{in: "100", err: "want AS:VALUE"},
		{in: "a:1", err: "AS"},
	}
	for _, tt := range tests {
		got, err := ParseCommunity(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseCommunity(%q) = %v, %v; want an error about %q", tt.in, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseCommunity(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if tt.err == "" {
			if back, err := ParseCommunity(got.String()); err != nil || back != got {
				t.Errorf("ParseCommunity(%v.String()=%q) = %v, %v", got, got.String(), back, err)
			}
		}
	}
}

func TestRouteCheck(t *testing.T) {
	tests := []struct {
		in   Route
		want Route
		err  string
	}{
		{in: Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}, want: Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}},
		{in: Route{Prefix: netip.MustParsePrefix("2001:db8::10/128")}, want: Route{Prefix: netip.MustParsePrefix("2001:db8::10/128")}},
		{in: Route{Prefix: netip.MustParsePrefix("::ffff:192.0.2.10/128")}, want: Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}},
		{
			in:   Route{Prefix: netip.MustParsePrefix("192.0.2.0/28"), Communities: []Community{NoExport, 2, 1, 2}, MED: 5},
			want: Route{Prefix: netip.MustParsePrefix("192.0.2.0/28"), Communities: []Community{1, 2, NoExport}, MED: 5},
		},
		{in: Route{}, err: "not a valid prefix"},
		{in: Route{Prefix: netip.MustParsePrefix("192.0.2.10/24")}, err: "host bits set (did you mean 192.0.2.0/24?)"},
		{in: Route{Prefix: netip.MustParsePrefix("::ffff:0:0/95")}, err: "shorter than /96"},
	}
	for _, tt := range tests {
		got, err := tt.in.check()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("check(%v) = %v; want an error about %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("check(%v): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("check(%v) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestRouteDiff(t *testing.T) {
	p := netip.MustParsePrefix
	a := Route{Prefix: p("192.0.2.1/32")}
	b := Route{Prefix: p("192.0.2.2/32")}
	b2 := Route{Prefix: p("192.0.2.2/32"), MED: 10}
	c := Route{Prefix: p("2001:db8::1/128"), Communities: []Community{1}}
	c2 := Route{Prefix: p("2001:db8::1/128"), Communities: []Community{1, 2}}
	set := func(rs ...Route) map[netip.Prefix]Route {
		m := make(map[netip.Prefix]Route)
		for _, r := range rs {
			m[r.Prefix] = r
		}
		return m
	}
	tests := []struct {
		name         string
		have, want   map[netip.Prefix]Route
		wantAnnounce []Route
		wantWithdraw []netip.Prefix
	}{
		{"nothing", set(), set(), nil, nil},
		{"all new", set(), set(c, b, a), []Route{a, b, c}, nil},
		{"same: no change", set(a, b, c), set(a, b, c), nil, nil},
		{"all gone", set(a, b, c), set(), nil, []netip.Prefix{a.Prefix, b.Prefix, c.Prefix}},
		{"changed MED and communities", set(a, b, c), set(a, b2, c2), []Route{b2, c2}, nil},
		{"mixed", set(a, b), set(b2, c), []Route{b2, c}, []netip.Prefix{a.Prefix}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann, wd := routeDiff(tt.have, tt.want)
			eq := cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })
			if diff := cmp.Diff(tt.wantAnnounce, ann, eq); diff != "" {
				t.Errorf("announce (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWithdraw, wd, eq); diff != "" {
				t.Errorf("withdraw (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRouteTable walks one route through its states: pending before the
// speaker runs, announced, attributes changed (Since kept), withdrawn,
// announced again, and withdrawn when the speaker stops.
func TestRouteTable(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	vip := Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}
	other := Route{Prefix: netip.MustParsePrefix("192.0.2.11/32")}
	tab := newRouteTable()
	check := func(step string, want ...RouteStatus) {
		t.Helper()
		if diff := cmp.Diff(want, tab.list(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("%s: statuses (-want +got):\n%s", step, diff)
		}
	}
	apply := func(now time.Time) {
		ann, wd := tab.diff()
		for _, p := range wd {
			tab.withdrawn(p, now)
		}
		for _, r := range ann {
			tab.announced(r, now)
		}
	}

	tab.setWant(map[netip.Prefix]Route{vip.Prefix: vip, other.Prefix: other})
	tab.idle(at(0))
	check("before run", RouteStatus{vip, RoutePending, at(0)}, RouteStatus{other, RoutePending, at(0)})

	tab.setWant(map[netip.Prefix]Route{vip.Prefix: vip})
	tab.idle(at(1))
	check("dropped before run", RouteStatus{vip, RoutePending, at(0)}, RouteStatus{other, RouteWithdrawn, at(1)})

	apply(at(2))
	check("running", RouteStatus{vip, RouteAnnounced, at(2)}, RouteStatus{other, RouteWithdrawn, at(1)})

	vipMED := vip
	vipMED.MED = 7
	tab.setWant(map[netip.Prefix]Route{vip.Prefix: vipMED})
	apply(at(3))
	check("new MED", RouteStatus{vipMED, RouteAnnounced, at(2)}, RouteStatus{other, RouteWithdrawn, at(1)})

	tab.setWant(map[netip.Prefix]Route{})
	apply(at(4))
	check("withdrawn", RouteStatus{vipMED, RouteWithdrawn, at(4)}, RouteStatus{other, RouteWithdrawn, at(1)})

	tab.setWant(map[netip.Prefix]Route{vip.Prefix: vip, other.Prefix: other})
	apply(at(5))
	check("announced again", RouteStatus{vip, RouteAnnounced, at(5)}, RouteStatus{other, RouteAnnounced, at(5)})

	tab.stopped(at(6))
	check("stopped", RouteStatus{vip, RouteWithdrawn, at(6)}, RouteStatus{other, RouteWithdrawn, at(6)})
	if ann, wd := tab.diff(); len(wd) != 0 || len(ann) != 2 {
		t.Errorf("after stop the table is empty and the wanted set kept: diff %v %v", ann, wd)
	}
}
