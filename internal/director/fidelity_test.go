package director

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// The cases of issue 17, each as keepalived 2.2.7 runs it: the director
// runs the file with keepalived's value and warns at the line keepalived
// corrects or ignores, in words that say what keepalived does. The same
// configurations run against keepalived itself in the compat suite
// (compat_test.go).

// fidInst is a vrrp_instance whose body starts on line 2 (line 1 is the
// header), indented by 4 spaces.
func fidInst(lines ...string) string {
	return "vrrp_instance VI_1 {\n    " + strings.Join(lines, "\n    ") + "\n}\n"
}

// fidVIP is the usual body of fidInst: interface, VRID and a VIP.
var fidVIP = []string{"interface eth0", "virtual_router_id 51", "virtual_ipaddress {", "    10.1.1.1/24", "}"}

func fidVS(header string, lines ...string) string {
	return header + " {\n    " + strings.Join(lines, "\n    ") + "\n}\n"
}

func TestKeepalivedCases(t *testing.T) {
	// A notify script runs as its resolved path, and one that does not
	// exist is disabled, as keepalived does (translate_script.go).
	trueBin, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		conf string
		// warn is a warning that must be there: "line:col: message
		// prefix".
		warn string
		// check looks at the plan; it returns what is wrong.
		check func(p *Plan) string
	}{
		// Refused before, where keepalived runs.
		{"auth_pass longer than 8",
			fidInst(append(fidVIP, "authentication {", "    auth_type PASS", "    auth_pass 123456789abc", "}")...),
			"9:19: auth_pass truncated to 8 characters, as keepalived does",
			func(p *Plan) string { return want(p.Instances[0].VRRP.AuthPass, "12345678") }},
		{"no virtual_ipaddress",
			fidInst("interface eth0", "virtual_router_id 51", "notify_master /bin/true"),
			`1:1: vrrp_instance "VI_1": no virtual_ipaddress: keepalived warns "No VIP specified" and runs VRRP without addresses`,
			func(p *Plan) string {
				c := p.Instances[0].VRRP
				return want(vals(len(c.VIPs), c.Notify.Master), "0 ["+trueBin+"]")
			}},
		{"unicast_src_ip with a prefix",
			fidInst(append(fidVIP, "unicast_src_ip 192.168.0.91/24", "unicast_peer {", "    192.168.0.92/24", "}")...),
			"7:20: unicast_src_ip: prefix length dropped from 192.168.0.91/24: 192.168.0.91, as keepalived does",
			func(p *Plan) string {
				c := p.Instances[0].VRRP
				return want(vals(c.Source, c.UnicastPeers), "192.168.0.91 [192.168.0.92]")
			}},
		{"unicast_peer with a prefix",
			fidInst(append(fidVIP, "unicast_peer {", "    192.168.0.92/24", "}")...),
			"8:9: unicast_peer: prefix length dropped from 192.168.0.92/24: 192.168.0.92, as keepalived does",
			func(p *Plan) string { return want(vals(p.Instances[0].VRRP.UnicastPeers), "[192.168.0.92]") }},
		{"nopreempt 1",
			fidInst(append(fidVIP, "nopreempt 1")...),
			`7:15: nopreempt: unexpected argument "1" ignored, as keepalived does`,
			func(p *Plan) string { return want(p.Instances[0].VRRP.NoPreempt, true) }},
		{"virtual_server with extra words",
			fidVS("virtual_server 192.168.100.100 53 dev eth0.53", "protocol UDP", "lb_algo rr", "lb_kind NAT", "real_server 10.0.0.5 53 {", "}"),
			`1:35: virtual_server: unexpected arguments "dev eth0.53" ignored, as keepalived does`,
			func(p *Plan) string { return want(p.VirtualServers[0].Service.String(), "UDP 192.168.100.100:53") }},
		{"state SLAVE",
			fidInst(append(fidVIP, "state SLAVE")...),
			`7:11: state: unknown state "SLAVE" (MASTER and BACKUP are case-sensitive): BACKUP, as keepalived does`,
			func(p *Plan) string { return want(p.Instances[0].VRRP.InitialState, vrrp.StateBackup) }},
		{"a sync group of one instance",
			"vrrp_sync_group G1 {\n    group {\n        VI_1\n    }\n}\n" + fidInst(fidVIP...),
			`1:1: vrrp_sync_group "G1" has only one instance: kept, as keepalived does`,
			func(p *Plan) string {
				return want(vals(len(p.SyncGroups), p.SyncGroups[0].Members, p.Instances[0].SyncGroup), "1 [VI_1] G1")
			}},
		{"nat_mask",
			fidVS("virtual_server 10.2.2.2 80", "protocol TCP", "lb_algo rr", "lb_kind NAT", "nat_mask 255.255.255.0", "real_server 10.0.0.5 80 {", "}"),
			`5:5: unknown keyword "nat_mask" in virtual_server: ignored, as keepalived does; keepalived 2.2.7 no longer knows nat_mask`,
			func(p *Plan) string { return want(len(p.VirtualServers), 1) }},
		{"lvs_sync_daemon_inteface",
			fidInst(append(fidVIP, "lvs_sync_daemon_inteface eth0")...),
			`7:5: unknown keyword "lvs_sync_daemon_inteface" in vrrp_instance (did you mean "lvs_sync_daemon_interface"?): ignored, as keepalived does`,
			func(p *Plan) string { return want(p.SyncDaemon == nil, true) }},
		{"a misspelt checker",
			fidVS("virtual_server 10.2.2.2 25", "protocol TCP", "lb_algo rr", "lb_kind NAT",
				"real_server 10.0.0.5 25 {", "    SMTP_CHEKC {", "        connect_timeout 3", "    }", "    weight 2", "}"),
			`6:9: unknown keyword "SMTP_CHEKC" in real_server (did you mean "SMTP_CHECK"?): ignored, as keepalived does; A MISSPELT CHECKER IS NO CHECK AT ALL: this real server is not checked by it; keepalived also ignores its '{', so the lines inside are read as real_server's and its '}' ends real_server`,
			func(p *Plan) string {
				// The block's connect_timeout is the real server's; its
				// '}' ended real_server, so weight 2 is virtual_server's
				// (the default weight of its real servers).
				rs := p.VirtualServers[0].RealServers[0]
				return want(vals(len(rs.Checks), rs.Weight), "0 2")
			}},
		{"garp_master_delay in global_defs",
			"global_defs {\n    garp_master_delay 1\n}\n" + fidInst(fidVIP...),
			`2:5: unknown keyword "garp_master_delay" in global_defs (did you mean "vrrp_garp_master_delay"?): ignored, as keepalived does`,
			func(p *Plan) string { return want(p.Instances[0].VRRP.GARPMasterDelay, time.Duration(0)) }},
		{"sync group members without group { }",
			"vrrp_sync_group G1 {\n    VI_1\n}\n" + fidInst(fidVIP...),
			`2:5: unknown keyword "VI_1" in vrrp_sync_group: ignored, as keepalived does; the instances of a sync group go inside group { }`,
			func(p *Plan) string { return want(vals(len(p.SyncGroups), p.Instances[0].SyncGroup), "0 ") }},

		// Read differently before, silently.
		{"lb_kind dr",
			fidVS("virtual_server 10.2.2.2 80", "protocol TCP", "lb_algo rr", "lb_kind dr", "real_server 10.0.0.5 80 {", "}"),
			`4:13: lb_kind: unknown forwarding method "dr" (NAT, DR and TUN are case-sensitive): ignored, as keepalived does (the inherited method or NAT applies)`,
			func(p *Plan) string { return want(p.VirtualServers[0].RealServers[0].Forward, ipvs.Masquerade) }},
		{"state master",
			fidInst(append(fidVIP, "state master")...),
			`7:11: state: unknown state "master" (MASTER and BACKUP are case-sensitive): BACKUP, as keepalived does`,
			func(p *Plan) string {
				c := p.Instances[0].VRRP
				// MASTER would have made the unset priority 255.
				return want(vals(c.InitialState, c.Priority), "BACKUP 100")
			}},
		{"nb_get_retry in TCP_CHECK",
			fidVS("virtual_server 10.2.2.2 80", "protocol TCP", "lb_algo rr", "lb_kind NAT",
				"real_server 10.0.0.5 80 {", "    TCP_CHECK {", "        nb_get_retry 3", "    }", "}"),
			`7:13: unknown keyword "nb_get_retry" in TCP_CHECK: ignored, as keepalived does; keepalived 2.2.7 knows nb_get_retry only in HTTP_GET and SSL_GET, so this checker keeps its default retry; write retry`,
			func(p *Plan) string {
				// Retry 0 is the checker's default: 1 for TCP_CHECK.
				return want(p.VirtualServers[0].RealServers[0].Checks[0].Policy.Retry, 0)
			}},
		{"nb_get_retry in HTTP_GET is known",
			fidVS("virtual_server 10.2.2.2 80", "protocol TCP", "lb_algo rr", "lb_kind NAT",
				"real_server 10.0.0.5 80 {", "    HTTP_GET {", "        url {", "            path /", "        }", "        nb_get_retry 3", "    }", "}"),
			"10:13: nb_get_retry is deprecated in keepalived 2.2.7 (it says: please use 'retry'); read as retry, as keepalived does",
			func(p *Plan) string { return want(p.VirtualServers[0].RealServers[0].Checks[0].Policy.Retry, 3) }},
		{"lvs_id",
			"global_defs {\n    lvs_id LVS_MAIN\n}\n" + fidInst(fidVIP...),
			`2:5: unknown keyword "lvs_id" in global_defs: ignored, as keepalived does; keepalived 2.2.7 no longer knows lvs_id (it is not router_id)`,
			func(p *Plan) string { return want(p.RouterID, "fidhost") }},
		{"vrrp_garp_interval 0",
			"global_defs {\n    vrrp_garp_interval 0\n}\n" + fidInst(fidVIP...),
			"2:24: vrrp_garp_interval: 0 is invalid (it must be above 0): ignored, as keepalived does",
			func(p *Plan) string { return want(p.Instances[0].VRRP.GARPInterval, time.Duration(0)) }},
		{"vrrp_gna_interval 0",
			"global_defs {\n    vrrp_gna_interval 0\n}\n" + fidInst(fidVIP...),
			"2:23: vrrp_gna_interval: 0 is invalid (it must be above 0): ignored, as keepalived does",
			func(p *Plan) string { return want(p.Instances[0].VRRP.GNAInterval, time.Duration(0)) }},

		// keepalived's reading of an unknown block: its lines are read in
		// the enclosing block, and its '}' closes that block.
		{"an unknown block",
			fidInst("interface eth0", "virtual_router_id 51", "foo_block {", "    priority 50", "}", "advert_int 3", "virtual_ipaddress {", "    10.1.1.1", "}"),
			`4:5: unknown keyword "foo_block" in vrrp_instance: ignored, as keepalived does; keepalived also ignores its '{'`,
			func(p *Plan) string {
				c := p.Instances[0].VRRP
				return want(vals(c.Priority, c.AdvertInterval, len(c.VIPs)), "50 1s 0")
			}},
		// keepalived 2.2.7's default protocol.
		{"no protocol",
			fidVS("virtual_server 10.2.2.2 53", "lb_algo rr", "lb_kind NAT", "real_server 10.0.0.5 53 {", "}"),
			"1:1: virtual_server 10.2.2.2 53: no protocol: UDP, as keepalived 2.2.7 does",
			func(p *Plan) string { return want(p.VirtualServers[0].Service.Protocol, ipvs.UDP) }},
		{"no real servers",
			fidVS("virtual_server 10.2.2.2 80", "protocol TCP", "lb_algo rr", "lb_kind NAT") +
				fidVS("virtual_server 10.2.2.3 80", "protocol TCP", "lb_algo rr", "lb_kind NAT", "real_server 10.0.0.5 80 {", "}"),
			"1:1: virtual_server 10.2.2.2 80 has no real servers: ignored, as keepalived does",
			func(p *Plan) string { return want(p.VirtualServers[0].Service.String(), "TCP 10.2.2.3:80") }},
		{"quorum above the total weight",
			fidVS("virtual_server 10.2.2.2 80", "protocol TCP", "lb_algo rr", "lb_kind NAT", "quorum 5", "hysteresis 3", "real_server 10.0.0.5 80 {", "    weight 2", "}"),
			"5:5: virtual_server 10.2.2.2 80: quorum 5 exceeds the real servers' total weight 2: reduced to 2, as keepalived does",
			func(p *Plan) string {
				vs := p.VirtualServers[0]
				return want(vals(vs.Quorum, vs.Hysteresis), "2 1")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.conf)
			p, warns, err := Load(path, "fidhost")
			if err != nil {
				t.Fatalf("Load: %v\n%s", err, tt.conf)
			}
			if tt.warn != "" && !hasWarning(warns, path+":"+tt.warn) {
				t.Errorf("no warning %q among:\n%s", tt.warn, joinWarnings(warns))
			}
			if tt.warn == "" && len(warns) > 0 {
				t.Errorf("warnings, want none:\n%s", joinWarnings(warns))
			}
			if msg := tt.check(p); msg != "" {
				t.Errorf("%s\n%s", msg, tt.conf)
			}
		})
	}
}

// auth_pass is reported at its line even when the file has errors: the
// parser collects diagnostics instead of stopping at the first.
func TestKeepalivedWarningsWithErrors(t *testing.T) {
	conf := fidInst(append(fidVIP, "authentication {", "    auth_type PASS", "    auth_pass 123456789abc", "}")...) +
		"vrrp_instance VI_2 {\n    interface eth0\n}\n"
	path := writeTemp(t, conf)
	_, warns, err := Load(path, "")
	if err == nil {
		t.Fatal("Load accepted an instance without virtual_router_id")
	}
	if ds := Diagnostics(err); len(ds) != 1 || !strings.HasPrefix(ds[0].String(), path+`:12:1: vrrp_instance "VI_2": missing virtual_router_id`) {
		t.Errorf("errors %v", ds)
	}
	if !hasWarning(warns, path+":9:19: auth_pass truncated to 8 characters") {
		t.Errorf("the auth_pass warning is missing next to the error:\n%s", joinWarnings(warns))
	}
}

// auth_type AH runs (vrrp.AuthAH) with the first 8 characters of
// auth_pass, as keepalived's; its state MASTER is BACKUP, as keepalived
// makes it.
func TestKeepalivedAH(t *testing.T) {
	path := writeTemp(t, fidInst(append(fidVIP, "state MASTER", "authentication {", "    auth_type AH", "    auth_pass secretsecret", "}")...))
	p, warns, err := Load(path, "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	in := p.Instances[0]
	if in.AuthType != "AH" || in.VRRP.AuthType != vrrp.AuthAH || in.VRRP.AuthPass != "secretse" || in.VRRP.InitialState == vrrp.StateMaster {
		t.Errorf("plan: auth %q, vrrp auth %d %q, initial state %v", in.AuthType, in.VRRP.AuthType, in.VRRP.AuthPass, in.VRRP.InitialState)
	}
	if !hasWarning(warns, path+":10:19: auth_pass truncated to 8 characters") {
		t.Errorf("AH's auth_pass is truncated as PASS's is:\n%s", joinWarnings(warns))
	}
	if !hasWarning(warns, path+":7:5: state MASTER is incompatible with AH authentication") {
		t.Errorf("state MASTER with AH is not reported:\n%s", joinWarnings(warns))
	}
}

// vals prints values separated by blanks.
func vals(vs ...any) string { return strings.TrimSuffix(fmt.Sprintln(vs...), "\n") }

func want[T comparable](got, want T) string {
	if got != want {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	return ""
}

func hasWarning(warns []Warning, prefix string) bool {
	for _, w := range warns {
		if strings.HasPrefix(w.String(), prefix) {
			return true
		}
	}
	return false
}

func joinWarnings(warns []Warning) string {
	var b strings.Builder
	for _, w := range warns {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}
