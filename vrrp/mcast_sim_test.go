package vrrp

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// TestSimMulticastGroups: instances hear only adverts sent to their own
// group (vrrp_mcast_group4, mcast_dst_ip): two with the same VRID in other
// groups are both master, one joining a group elects with its members.
func TestSimMulticastGroups(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		custom := netip.MustParseAddr("224.0.0.119")
		a := s.start("10.0.0.1", Config{Name: "a", Priority: 200, Group: custom})
		b := s.start("10.0.0.2", Config{Name: "b", Priority: 100})
		for _, r := range []*simRouter{a, b} {
			r.run()
			defer r.stop(t)
		}
		s.waitFor("a and b both master", 3*time.Second, func() bool { return len(masters(a, b)) == 2 })
		s.hold("a and b stay master", 2*time.Second, func() bool { return len(masters(a, b)) == 2 })
		c := s.start("10.0.0.3", Config{Name: "c", Priority: 100, Group: custom})
		c.run()
		defer c.stop(t)
		s.waitFor("c backup to a", 3*time.Second, func() bool {
			st := c.inst.Status()
			return st.State == StateBackup && st.Master == a.addr
		})
		s.hold("c stays backup", 2*time.Second, func() bool { return c.inst.State() == StateBackup })
	})
}

func TestConfigGroup(t *testing.T) {
	for _, tc := range []struct {
		group string
		vip   string
		ok    bool
	}{
		{"224.0.0.119", "10.0.0.1/32", true},
		{"ff02::119", "fd00::1/128", true},
		{"10.0.0.9", "10.0.0.1/32", false},
		{"ff02::119", "10.0.0.1/32", false},
		{"224.0.0.119", "fd00::1/128", false},
	} {
		c := Config{Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: netip.MustParsePrefix(tc.vip)}}, Group: netip.MustParseAddr(tc.group)}
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("group %s with VIP %s: %v, want ok %v", tc.group, tc.vip, err, tc.ok)
		}
	}
}
