package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
		{"256 VIPs", func(c *Config) {
			c.VIPs = nil
			for i := range 256 {
				c.VIPs = append(c.VIPs, VIP{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), 16)})
			}
		}, "config: 256 VIPs, an advert carries at most 255"},
		{"unicast without peers", func(c *Config) { c.Unicast = true }, "config: unicast with an empty peer list"},
		{"tracker without a tracker", func(c *Config) { c.Trackers = []Track{{Name: "x"}} }, "config: tracker 0 has no Tracker"},
		// Names reach metric labels and logs: refused rather than a panic
		// in prometheus when the instance runs.
		{"name not UTF-8", func(c *Config) { c.Name = "V\xff1" }, `config: name "V\xff1": not valid UTF-8`},
		{"interface too long", func(c *Config) { c.Interface = "an_interface_16b" }, `config: interface "an_interface_16b": 16 bytes long, at most 15`},
		{"label with a newline", func(c *Config) { c.VIPs[0].Label = "eth0:\n1" }, `config: VIP label "eth0:\n1": control character U+000A`},
		{"tracker name", func(c *Config) { c.Trackers = []Track{{Name: "t\x01", Tracker: TrackFunc(time.Second, nil)}} },
			`config: tracker "t\x01": control character U+0001`},
		{"notify program", func(c *Config) { c.Notify.Master = []string{"/bin/x", "\xc3("} }, `config: notify program "\xc3(": not valid UTF-8`},
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

// New has no side effects: an instance built and never run (a reload
// that was rejected) leaves no series in its Metrics (they appear when it
// runs). A name Prometheus would panic on is an error from New.
func TestNewLeavesNoMetrics(t *testing.T) {
	met := NewMetrics()
	reg := prometheus.NewRegistry()
	if err := reg.Register(met); err != nil {
		t.Fatal(err)
	}
	c := Config{Name: "built", Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: simVIP}},
		Network: newFakeNet(), Transport: NewMemNet().Transport(), Metrics: met}
	if _, err := New(c); err != nil {
		t.Fatal(err)
	}
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("after New: %d metric families (%v), want none", len(mfs), err)
	}
	c.Name = "V\xff1"
	if _, err := New(c); err == nil {
		t.Error("New accepted a name that is not UTF-8")
	}
}

// A sync group's name reaches logs and notify scripts: the same rule.
func TestSyncGroupName(t *testing.T) {
	var insts []*Instance
	for i := range 2 {
		in, err := New(Config{Interface: "eth0", VRID: uint8(i + 1), VIPs: []VIP{{Prefix: simVIP}},
			Network: newFakeNet(), Transport: NewMemNet().Transport()})
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, in)
	}
	_, err := NewSyncGroup("G\xff", Notify{}, nil, insts...)
	if want := `new sync group "G\xff": not valid UTF-8`; err == nil || err.Error() != want {
		t.Errorf("NewSyncGroup = %v, want %q", err, want)
	}
}
