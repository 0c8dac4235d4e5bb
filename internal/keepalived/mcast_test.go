package keepalived

import (
	"strings"
	"testing"
)

// keepalived takes an instance's address family from the first of
// mcast_dst_ip and the VIPs: an IPv6 mcast_dst_ip before IPv4 VIPs makes
// them the wrong family (ignored, with keepalived's warning at the VIP's
// line); after them, the VIPs stay (the translator skips mcast_dst_ip).
func TestMcastDstIPFamily(t *testing.T) {
	text := `vrrp_instance FIRST {
    interface eth0
    virtual_router_id 51
    mcast_dst_ip ff02::120
    virtual_ipaddress {
        10.1.2.1/24
        fd00::1/64
    }
}
vrrp_instance AFTER {
    interface eth0
    virtual_router_id 52
    virtual_ipaddress {
        10.1.3.1/24
    }
    mcast_dst_ip ff02::121
}
`
	cfg, warns, err := Parse(strings.NewReader(text), "keepalived.conf", Options{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(warns) != 1 || warns[0].Pos.Line != 6 || !strings.Contains(warns[0].Msg, "not of the address family of mcast_dst_ip ff02::120") {
		t.Errorf("warnings %v, want one at line 6 naming mcast_dst_ip", warns)
	}
	if v := cfg.Instances[0].VirtualIPAddresses; len(v) != 1 || v[0].Prefix.String() != "fd00::1/64" {
		t.Errorf("FIRST's VIPs = %v, want fd00::1/64 alone", v)
	}
	if v := cfg.Instances[1].VirtualIPAddresses; len(v) != 1 || v[0].Prefix.String() != "10.1.3.1/24" {
		t.Errorf("AFTER's VIPs = %v, want 10.1.3.1/24", v)
	}
}
