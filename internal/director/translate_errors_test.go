package director

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Semantic errors reject the file, each with its position.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // ":line:col: message" suffixes, in order
	}{
		{"missing group", "virtual_server group NOPE {\n    real_server 10.0.0.1 80 {\n    }\n}\n",
			[]string{`:1:1: virtual_server: no virtual_server_group named "NOPE"`}},
		{"weight over the kernel's", "virtual_server 10.0.0.9 80 {\n    real_server 10.0.0.1 80 {\n        weight 70000\n    }\n}\n",
			[]string{`:3:9: weight: 70000 is out of range [0, 65535]`}},
		{"IPv6 VIP in version 2", "vrrp_instance V {\n    interface eth0\n    virtual_router_id 9\n    version 2\n    virtual_ipaddress {\n        fd00::9\n    }\n}\n",
			[]string{`:1:1: vrrp_instance "V": config: version 2 carries IPv4 only; use version 3 for IPv6`}},
		{"two errors", "virtual_server 10.0.0.9 80 {\n    real_server 10.0.0.1 80 {\n        weight 70000\n    }\n    real_server 10.0.0.2 80 {\n        weight 70001\n    }\n}\n",
			[]string{`:3:9: weight: 70000`, `:6:9: weight: 70001`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, tc.text)
			_, _, err := Load(path, "")
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			ds := Diagnostics(err)
			if len(ds) != len(tc.want) {
				t.Fatalf("diagnostics %v, want %d", ds, len(tc.want))
			}
			for i, w := range tc.want {
				if got := ds[i].String(); !strings.HasPrefix(got, path+w) {
					t.Errorf("diagnostic %d = %q, want prefix %q", i, got, path+w)
				}
			}
		})
	}
}

// Keywords the director parses but does not implement each give a warning
// naming them, at their position (and static_ipaddress, implemented, none).
func TestLoadWarnings(t *testing.T) {
	path := writeTemp(t, `global_defs {
    vrrp_strict
    script_user nobody
}
vrrp_instance V {
    interface eth0
    virtual_router_id 9
    mcast_dst_ip 224.0.0.99
    promote_secondaries
    virtual_ipaddress {
        10.0.0.9 scope link
    }
}
static_ipaddress {
    10.9.9.9/24 dev eth0
}
virtual_server 10.0.0.9 80 {
    protocol TCP
    lb_algo rr
    lb_kind DR
    ha_suspend
    real_server 10.0.0.1 80 {
        TCP_CHECK {
            log_all_failures
        }
    }
}
`)
	_, warns := mustLoad(t, path, "")
	type kw struct {
		Line, Col int
		Keyword   string
	}
	var got []kw
	for _, w := range warns {
		got = append(got, kw{w.Pos.Line, w.Pos.Col, w.Keyword})
		if !strings.Contains(w.Msg, "not implemented") {
			t.Errorf("warning %v does not say it is not implemented", w)
		}
	}
	want := []kw{
		{9, 5, "promote_secondaries"},
		{11, 9, "virtual_ipaddress"}, {21, 5, "ha_suspend"}, {24, 13, "log_all_failures"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
