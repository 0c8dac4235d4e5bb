package director

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/vrrp"
)

// authentication: PASS and AH are run; where keepalived 2.2.7 ignores the
// block (version 3, no password) it is ignored with keepalived's warning.
func TestLoadAuthentication(t *testing.T) {
	path := writeTemp(t, `vrrp_instance PASS {
    interface eth0
    virtual_router_id 1
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        10.0.0.1
    }
}
vrrp_instance AH {
    interface eth0
    virtual_router_id 2
    authentication {
        auth_type AH
        auth_pass secret
    }
    virtual_ipaddress {
        10.0.0.2
    }
}
vrrp_instance V3 {
    interface eth0
    virtual_router_id 3
    version 3
    authentication {
        auth_type AH
        auth_pass secret
    }
    virtual_ipaddress {
        10.0.0.3
    }
}
vrrp_instance NOPASS {
    interface eth0
    virtual_router_id 4
    authentication {
        auth_type AH
    }
    virtual_ipaddress {
        10.0.0.4
    }
}
`)
	p, warns := mustLoad(t, path, "")
	type auth struct {
		Pass string
		Type uint8
	}
	var got []auth
	for _, in := range p.Instances {
		got = append(got, auth{in.VRRP.AuthPass, in.VRRP.AuthType})
	}
	want := []auth{{"secret", 0}, {"secret", vrrp.AuthAH}, {"", 0}, {"", 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("authentication (-want +got):\n%s", diff)
	}
	wantWarn := []string{
		path + ":27:5: VRRP version 3 does not support authentication; ignored, as keepalived does",
		path + ":38:5: authentication specified but no password given; ignored, as keepalived does",
	}
	if diff := cmp.Diff(wantWarn, warnStrings(warns)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// Multicast groups: global_defs' vrrp_mcast_group4 / vrrp_mcast_group6
// for each family, an instance's mcast_dst_ip over them, and what
// keepalived skips with a warning (a unicast instance's, a wrong one).
func TestLoadMulticastGroups(t *testing.T) {
	path := writeTemp(t, `global_defs {
    vrrp_mcast_group4 224.0.0.119
    vrrp_mcast_group6 ff02::119
}
vrrp_instance V4 {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        10.0.0.1
    }
}
vrrp_instance V6 {
    interface eth0
    virtual_router_id 2
    virtual_ipaddress {
        fd00::2
    }
}
vrrp_instance OWN {
    interface eth0
    virtual_router_id 3
    mcast_dst_ip 224.0.0.120
    virtual_ipaddress {
        10.0.0.3
    }
}
vrrp_instance UNICAST {
    interface eth0
    virtual_router_id 4
    mcast_dst_ip 224.0.0.120
    unicast_peer {
        10.0.0.9
    }
    virtual_ipaddress {
        10.0.0.4
    }
}
vrrp_instance WRONG {
    interface eth0
    virtual_router_id 5
    mcast_dst_ip 10.0.0.9
    virtual_ipaddress {
        10.0.0.5
    }
}
`)
	p, warns := mustLoad(t, path, "")
	var got []string
	for _, in := range p.Instances {
		got = append(got, in.VRRP.Name+" "+in.VRRP.Group.String())
	}
	want := []string{"V4 224.0.0.119", "V6 ff02::119", "OWN 224.0.0.120", "UNICAST invalid IP", "WRONG 224.0.0.119"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	wantWarn := []string{
		path + ":30:5: multicast destination specified with unicast - ignoring (as keepalived does)",
		path + ":41:5: mcast_dst_ip 10.0.0.9 not multicast. Skipping... (as keepalived does)",
	}
	if diff := cmp.Diff(wantWarn, warnStrings(warns)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
