package director

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/vrrp"
)

// vrrp_strict as keepalived 2.2.7 applies it: no accept mode (but for an
// owner), no authentication, version 3 for IPv6, no lower-priority adverts
// or gratuitous ARPs, preempt_delay and accept in version 2 reset, state
// MASTER only for an owner; each correction with keepalived's warning.
// Out of strict mode, no_accept is taken as it is.
func TestLoadStrict(t *testing.T) {
	path := writeTemp(t, `global_defs {
    vrrp_strict
}
vrrp_instance A {
    state MASTER
    interface eth0
    virtual_router_id 1
    priority 150
    accept
    preempt_delay 5
    garp_lower_prio_repeat 3
    lower_prio_no_advert false
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        10.0.0.1
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    version 2
    virtual_ipaddress {
        fd00::2
    }
}
vrrp_instance OWNER {
    interface eth0
    virtual_router_id 3
    priority 255
    virtual_ipaddress {
        10.0.0.3
    }
}
vrrp_instance LOOSE {
    interface eth0
    virtual_router_id 4
    strict_mode off
    no_accept
    virtual_ipaddress {
        10.0.0.4
    }
}
`)
	p, warns := mustLoad(t, path, "")
	type got struct {
		Name                      string
		NoAccept, LowerPrioNoAdv  bool
		Version                   int
		Pass                      string
		PreemptDelay              int64
		GARPLowerRepeat, GARPLowD int64
		State                     vrrp.State
	}
	var gots []got
	for _, in := range p.Instances {
		c := in.VRRP
		gots = append(gots, got{c.Name, c.NoAccept, c.LowerPrioNoAdvert, c.Version, c.AuthPass, int64(c.PreemptDelay),
			int64(c.GARPLowerPrioRepeat), int64(c.GARPLowerPrioDelay), c.InitialState})
	}
	want := []got{
		{"A", true, true, 0, "", 0, -1, -1, vrrp.StateBackup},
		{"B", true, true, 3, "", 0, -1, -1, vrrp.StateInit},
		{"OWNER", false, true, 0, "", 0, -1, -1, vrrp.StateInit},
		{"LOOSE", true, false, 0, "", 0, 0, 0, vrrp.StateInit},
	}
	if diff := cmp.Diff(want, gots); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	var ws []string
	for _, w := range warnStrings(warns) {
		ws = append(ws, strings.TrimPrefix(w, path))
	}
	wantWarn := []string{
		":5:5: State MASTER must match being address owner (as keepalived does in strict mode)",
		":9:5: accept mode for VRRP version 2 does not comply with RFC3768 - resetting (as keepalived does in strict mode)",
		":10:5: preempt_delay is incompatible with strict mode - resetting (as keepalived does in strict mode)",
		":11:5: Strict mode requires no repeat garps. resetting (as keepalived does in strict mode)",
		":12:5: Strict mode requires no lower priority advert. resetting (as keepalived does in strict mode)",
		":13:5: Strict mode does not support authentication. Ignoring. (as keepalived does)",
		":24:5: cannot use IPv6 with VRRP version 2; setting version 3 (as keepalived does in strict mode)",
		":26:9: the first IPv6 VIP address must be link local (as keepalived does in strict mode)",
	}
	if diff := cmp.Diff(wantWarn, ws); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// Unicast peers in strict mode: keepalived refuses the instance.
func TestLoadStrictUnicast(t *testing.T) {
	path := writeTemp(t, `vrrp_instance U {
    interface eth0
    virtual_router_id 1
    strict_mode
    unicast_peer {
        10.0.0.9
    }
    virtual_ipaddress {
        10.0.0.1
    }
}
`)
	_, _, err := Load(path, "")
	if err == nil || !strings.Contains(err.Error(), path+":5:5: unicast_peer: unicast peers are not supported in strict mode") {
		t.Errorf("Load: %v", err)
	}
}
