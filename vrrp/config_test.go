package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// Validate refuses what New refuses about the configuration itself, and
// accepts a configuration without its run-time parts (Network, Transport),
// which only New needs.
func TestConfigValidate(t *testing.T) {
	base := func() Config { return Config{Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: simVIP}}} }
	if err := (&Config{}).Validate(); err == nil {
		t.Error("Validate accepted the zero Config")
	}
	c := base()
	c.Routes = []Route{{Dst: netip.MustParsePrefix("10.1.0.0/16")}}
	c.UseVMAC, c.NoAccept = true, true
	if err := c.Validate(); err != nil {
		t.Errorf("Validate without Network or Transport: %v", err)
	}
	for _, tt := range []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"v2 ipv6", func(c *Config) { c.Version = 2; c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("fd00::1/128")}} },
			"config: version 2 carries IPv4 only; use version 3 for IPv6"},
		{"v2 sub-second", func(c *Config) { c.AdvertInterval = 100 * time.Millisecond },
			"config: version 2 advert interval 100ms must be whole seconds 1..255"},
		{"priority 300", func(c *Config) { c.Priority = 300 }, "config: priority 300, want 1..255"},
		{"unicast without peers", func(c *Config) { c.Unicast = true }, "config: unicast with an empty peer list"},
		{"tracker without a tracker", func(c *Config) { c.Trackers = []Track{{Name: "x"}} }, "config: tracker 0 has no Tracker"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			c.Network, c.Transport = newFakeNet(), NewMemNet().Transport()
			if _, nerr := New(c); nerr == nil || nerr.Error() != "new vrrp instance: "+tt.want {
				t.Errorf("New = %v, want it to wrap %q", nerr, tt.want)
			}
		})
	}
}
