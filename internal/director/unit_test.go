package director

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/keepalived"
)

const changesConf = `global_defs {
    router_id unit
}
vrrp_sync_group G {
    group {
        A
        B
    }
}
vrrp_instance A {
    virtual_router_id 1
    interface eth0
    virtual_ipaddress {
        10.0.0.1
    }
}
vrrp_instance B {
    virtual_router_id 2
    interface eth0
    virtual_ipaddress {
        10.0.0.2
    }
}
vrrp_instance C {
    virtual_router_id 3
    interface eth0
    priority 100
    virtual_ipaddress {
        10.0.0.3
    }
}
virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 1
        TCP_CHECK {
        }
    }
}
virtual_server 10.0.0.1 443 {
    protocol TCP
    real_server 10.0.1.1 443 {
        TCP_CHECK {
        }
    }
}
`

// changes compares two plans unit by unit, ignoring positions: each edit
// of the file restarts exactly the unit it concerns.
func TestChanges(t *testing.T) {
	base := mustTranslate(t, changesConf)
	for _, tc := range []struct {
		name string
		edit func(string) string
		want map[string]changeKind // the units that are not kept
	}{
		{"blocks moved by comments and blank lines", func(s string) string {
			return "# reloaded\n\n" + strings.ReplaceAll(s, "    real_server", "\n    real_server")
		}, nil},
		{"one weight", func(s string) string { return strings.Replace(s, "weight 1", "weight 2", 1) },
			map[string]changeKind{"pool TCP 10.0.0.1:80": restarted}},
		{"a standalone priority", func(s string) string { return strings.Replace(s, "priority 100", "priority 120", 1) },
			map[string]changeKind{"vrrp instance C": restarted}},
		{"a sync group member's address", func(s string) string { return strings.Replace(s, "10.0.0.2\n", "10.0.0.22\n", 1) },
			map[string]changeKind{"vrrp group G": restarted}},
		{"a virtual server gone, one new", func(s string) string { return strings.Replace(s, "10.0.0.1 443", "10.0.0.1 8443", 1) },
			map[string]changeKind{"pool TCP 10.0.0.1:443": stopped, "pool TCP 10.0.0.1:8443": started}},
		{"alerts and lvs_timeouts", func(s string) string {
			return strings.Replace(s, "router_id unit\n", "router_id unit\n    notification_email {\n        ops@example.org\n    }\n    smtp_server 127.0.0.1\n    lvs_timeouts tcp 600\n", 1)
		}, map[string]changeKind{"alerts": started, "globals": restarted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := mustTranslate(t, tc.edit(changesConf))
			got := map[string]changeKind{}
			for _, c := range changes(base.units(), next.units()) {
				if c.what != kept {
					got[c.key.String()] = c.what
				}
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
	// Starting is applying over nothing; stopping, nothing over the plan.
	for _, c := range changes(nil, base.units()) {
		if c.what != started {
			t.Errorf("from nothing: %s %s", c.key, c.what)
		}
	}
	if n := len(changes(base.units(), nil)); n != len(base.units()) {
		t.Errorf("to nothing: %d changes for %d units", n, len(base.units()))
	}
}

func mustTranslate(t *testing.T, text string) *Plan {
	t.Helper()
	p, _ := mustLoad(t, writeTemp(t, text), "")
	return p
}

// sameConfig leaves out positions and a checker's probe state, but not
// addresses (structs without exported fields) or anything exported.
func TestSameConfig(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("10.0.0.2")
	if sameConfig(a, b) || !sameConfig(a, a) {
		t.Error("addresses compare wrong")
	}
	if !sameConfig([]string(nil), []string{}) {
		t.Error("a nil and an empty slice differ")
	}
	file := writeTemp(t, "5\n")
	fresh := &healthcheck.FileChecker{Path: file}
	used := &healthcheck.FileChecker{Path: file}
	_ = used.Check(t.Context()) // keeps the value it read between probes
	if !sameConfig(fresh, used) {
		t.Error("a checker's probe state counts as configuration")
	}
	if sameConfig(fresh, &healthcheck.FileChecker{Path: file + "2"}) {
		t.Error("checkers of different files are the same")
	}
	if sameConfig(func() {}, func() {}) || !sameConfig((func())(nil), (func())(nil)) {
		t.Error("functions compare wrong")
	}
	var p1, p2 Plan
	p1.Instances = []InstancePlan{{Pos: keepalived.Pos{File: "a.conf", Line: 1, Col: 1}}}
	p2.Instances = []InstancePlan{{Pos: keepalived.Pos{File: "b.conf", Line: 9, Col: 5}}}
	if !sameConfig(p1, p2) {
		t.Error("positions count")
	}
}
