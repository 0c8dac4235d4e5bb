package keepalived

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// inst wraps lines into a minimal valid vrrp_instance (lines start on
// line 4 of the file, indented by one space).
func inst(lines ...string) string {
	return "vrrp_instance VI {\n interface eth0\n virtual_router_id 1\n " + strings.Join(lines, "\n ") + "\n}\n"
}

// vs wraps lines into a virtual server (lines start on line 2).
func vs(lines ...string) string {
	return "virtual_server 10.0.0.1 80 {\n " + strings.Join(lines, "\n ") + "\n}\n"
}

// What keepalived stops on (or lvskit cannot run safely) is an error: the
// configuration is rejected whole, every error with its position.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []string
	}{
		{"not a number", "vrrp_instance VI {\n interface eth0\n virtual_router_id abc\n}\n", []string{
			`bad.conf:1:1: vrrp_instance "VI": missing virtual_router_id (keepalived does not start either)`,
		}},
		{"unterminated quote", "global_defs {\n router_id \"abc\n}\n", []string{`bad.conf:2:12: unterminated quoted string`}},
		{"plain use of block keyword", inst("virtual_ipaddress 10.0.0.1"), []string{`bad.conf:4:2: virtual_ipaddress: needs a { } block`}},
		{"missing virtual_router_id", "vrrp_instance VI {\n interface eth0\n}\n", []string{`bad.conf:1:1: vrrp_instance "VI": missing virtual_router_id (keepalived does not start either)`}},
		{"missing interface", "vrrp_instance VI {\n virtual_router_id 7\n}\n", []string{`bad.conf:1:1: vrrp_instance "VI": missing interface (keepalived does not start either)`}},
		{"empty unicast_peer", inst("unicast_peer {", "}"), []string{`bad.conf:4:2: vrrp_instance "VI": unicast_peer has no peers`}},
		{"unterminated script quote", inst(`notify_master "/bin/x 'a b"`), []string{`bad.conf:4:16: notify_master: unterminated ' quote in command "/bin/x 'a b"`}},
		{"auth without pass", inst("authentication {", " auth_type PASS", "}"), []string{`bad.conf:4:2: authentication: auth_type PASS needs auth_pass`}},
		{"lvs_sync_daemon instance", "global_defs {\n lvs_sync_daemon eth0 inst VI_9\n}\n", []string{`bad.conf:2:2: lvs_sync_daemon: no vrrp_instance named "VI_9"`}},
		{"undefined group", "virtual_server group NOPE {\n}\n", []string{`bad.conf:1:1: virtual_server: no virtual_server_group named "NOPE"`}},
		{"real server family", vs("real_server 2001:db8::1 80 {", "}"), []string{
			`bad.conf:2:2: real_server 2001:db8::1: address family differs from virtual_server 10.0.0.1`,
		}},
		{"FILE_CHECK without track_file", vs("real_server 10.0.1.1 80 {", " FILE_CHECK {", " }", "}"), []string{`bad.conf:3:3: FILE_CHECK: missing track_file (keepalived 2.2.7 crashes on this)`}},
		{"FILE_CHECK unknown file", vs("real_server 10.0.1.1 80 {", " FILE_CHECK {", "  track_file nope", " }", "}"), []string{`bad.conf:4:4: FILE_CHECK: no track_file named "nope"`}},
		{"bad ~SEQ", "~SEQ(X, 1, -1, 5) router_id r${X}\n", []string{`bad.conf:1:1: invalid ~SEQ values: step -1 cannot go from 1 to 5`}},
		{"duplicate instance", inst() + inst(), []string{`bad.conf:6:1: vrrp_instance "VI" is defined twice`}},
		{"every error is reported", inst("priority 0", "unicast_peer {", "}") + "vrrp_instance V2 {\n}\n", []string{
			`bad.conf:5:2: vrrp_instance "VI": unicast_peer has no peers`,
			`bad.conf:8:1: vrrp_instance "V2": missing virtual_router_id (keepalived does not start either)`,
			`bad.conf:8:1: vrrp_instance "V2": missing interface (keepalived does not start either)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse(strings.NewReader(tt.conf), "bad.conf", Options{FS: fstest.MapFS{}})
			if cfg != nil {
				t.Errorf("Parse returned a config along with errors")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			var got []string
			for _, d := range pe.Diagnostics {
				got = append(got, d.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nconfig:\n%s", diff, tt.conf)
			}
			if want := strings.Join(tt.want, "\n"); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

// What keepalived logs and then corrects or ignores is a warning at its
// position, saying what keepalived does; the configuration runs with
// keepalived's value (checked in TestCorrectionValues).
func TestCorrections(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []string
	}{
		{"unknown top-level keyword", "global_defs {\n}\nfoo bar\n", []string{`bad.conf:3:1: unknown keyword "foo": ignored, as keepalived does`}},
		{"unknown keyword in block", inst("priorty 100"), []string{`bad.conf:4:2: unknown keyword "priorty" in vrrp_instance (did you mean "priority"?): ignored, as keepalived does`}},
		{"number out of range", inst("priority 300"), []string{`bad.conf:4:11: priority: 300 is out of range [1, 255]: ignored, as keepalived does`}},
		{"missing argument", inst("priority"), []string{`bad.conf:4:2: priority: missing argument: the line is ignored, as keepalived does`}},
		{"extra argument", inst("priority 100 200"), []string{`bad.conf:4:15: priority: unexpected argument "200" ignored, as keepalived does`}},
		{"bad duration", inst("advert_int fast"), []string{`bad.conf:4:13: advert_int: invalid time "fast" (want seconds, e.g. 1 or 0.5): ignored, as keepalived does`}},
		{"negative duration", inst("advert_int -1"), []string{`bad.conf:4:13: advert_int: time "-1" is out of range: ignored, as keepalived does`}},
		{"zero advert_int", inst("advert_int 0"), []string{`bad.conf:4:13: advert_int: 0 is invalid (it must be above 0): ignored, as keepalived does`}},
		{"bad state", inst("state PRIMARY"), []string{`bad.conf:4:8: state: unknown state "PRIMARY" (MASTER and BACKUP are case-sensitive): BACKUP, as keepalived does`}},
		{"bad boolean", inst("smtp_alert maybe"), []string{`bad.conf:4:13: smtp_alert: invalid boolean "maybe" (want on|off|true|false|yes|no): ignored, as keepalived does`}},
		{"unclosed block", "global_defs {\n router_id x\n", []string{`bad.conf:1:1: block "global_defs" is not closed: missing '}'; keepalived reads it to the end of the file, as here`}},
		{"stray close", "global_defs {\n}\n}\n", []string{`bad.conf:3:1: unexpected '}' with no open block: ignored, as keepalived does`}},
		{"stray open", "{\n}\n", []string{
			`bad.conf:1:1: unexpected '{' without a keyword: ignored, as keepalived does (the '}' that matches it ends the enclosing block)`,
			`bad.conf:2:1: unexpected '}' with no open block: ignored, as keepalived does`,
		}},
		{"block on plain keyword", inst("priority 100 {", "}"), []string{
			`bad.conf:4:2: priority does not take a { } block: keepalived ignores the '{', reads the lines inside as if outside it, and the '}' ends the enclosing block; so does the director`,
			`bad.conf:6:1: unexpected '}' with no open block: ignored, as keepalived does`,
		}},
		{"bad address", inst("virtual_ipaddress {", " 10.0.0.300/24", "}"), []string{`bad.conf:5:3: virtual_ipaddress: invalid address/prefix "10.0.0.300/24": ignored, as keepalived does`}},
		{"bad address option", inst("virtual_ipaddress {", " 10.0.0.1/24 dev", "}"), []string{`bad.conf:5:15: virtual_ipaddress: dev needs a value: the address: ignored, as keepalived does`}},
		{"unknown address option", inst("virtual_ipaddress {", " 10.0.0.1/24 brick eth0", "}"), []string{
			`bad.conf:5:15: virtual_ipaddress: unknown option "brick": ignored, as keepalived does`,
			`bad.conf:5:21: virtual_ipaddress: unknown option "eth0": ignored, as keepalived does`,
		}},
		{"mixed families", inst("virtual_ipaddress {", " 10.0.0.1/24", " 2001:db8::1/64", "}"), []string{
			`bad.conf:6:3: virtual_ipaddress: 2001:db8::1/64 is not of the address family of 10.0.0.1: ignored, as keepalived does (use virtual_ipaddress_excluded to mix families)`,
		}},
		{"bad unicast_peer ttl", inst("unicast_peer {", " 10.0.0.2 min_ttl 300", "}"), []string{`bad.conf:5:20: unicast_peer min_ttl: 300 is out of range [0, 255]: ignored, as keepalived does`}},
		{"undefined track_script", inst("track_script {", " chk_none weight 10", "}"), []string{`bad.conf:5:3: track_script: no vrrp_script named "chk_none": ignored, as keepalived does`}},
		{"track weight range", "vrrp_script s {\n script /bin/true\n}\n" + inst("track_script {", " s weight 300", "}"), []string{
			`bad.conf:8:12: track_script weight: 300 is out of range [-253, 253]: ignored, as keepalived does`,
		}},
		{"vrrp_script without script", "vrrp_script s {\n interval 2\n}\n", []string{`bad.conf:1:1: vrrp_script "s": no script: removed, as keepalived does (a track_script naming it is ignored)`}},
		{"sync group member", "vrrp_sync_group G {\n group {\n  VI\n  VI_X\n }\n}\n" + inst(), []string{
			`bad.conf:4:3: vrrp_sync_group "G": no vrrp_instance named "VI_X": ignored, as keepalived does`,
			`bad.conf:1:1: vrrp_sync_group "G" has only one instance: kept, as keepalived does (it says: this probably isn't what you want)`,
		}},
		{"bad auth type", inst("authentication {", " auth_type MD5", "}"), []string{
			`bad.conf:5:13: auth_type: unknown authentication type "MD5" (PASS and AH are case-sensitive): no authentication, as keepalived does`,
		}},
		{"lvs_sync_daemon option", "global_defs {\n lvs_sync_daemon eth0 VI_9 ttl\n}\n", []string{`bad.conf:2:28: lvs_sync_daemon: ttl needs a value: ignored, as keepalived does`}},
		{"smtp_server port", "global_defs {\n smtp_server 127.0.0.1 smtp\n}\n", []string{`bad.conf:2:24: smtp_server port: invalid number "smtp": ignored, as keepalived does`}},
		{"bad scheduler", vs("lb_algo fastest"), []string{`bad.conf:2:10: lb_algo: unknown scheduler "fastest" (names are lower case): ignored, as keepalived does`}},
		{"bad forwarding", vs("lb_kind BRIDGE"), []string{`bad.conf:2:10: lb_kind: unknown forwarding method "BRIDGE" (NAT, DR and TUN are case-sensitive): ignored, as keepalived does (the inherited method or NAT applies)`}},
		{"DR takes no options", vs("lvs_method DR csum"), []string{`bad.conf:2:16: lvs_method: unexpected argument "csum": ignored, as keepalived does`}},
		{"gue needs port", vs("lvs_method TUN type gue"), []string{`bad.conf:2:22: lvs_method: type gue needs port N: ignored, as keepalived does`}},
		{"bad protocol", vs("protocol ICMP"), []string{`bad.conf:2:11: protocol: unknown protocol "ICMP" (want TCP, UDP or SCTP): ignored, as keepalived does`}},
		{"bad netmask", vs("persistence_granularity 255.0.255.0"), []string{`bad.conf:2:26: persistence_granularity: "255.0.255.0" is not a contiguous netmask: ignored, as keepalived does`}},
		{"no port without persistence", "virtual_server 10.0.0.1 {\n lb_algo rr\n}\n", []string{
			`bad.conf:1:1: virtual_server 10.0.0.1: port 0 is valid only for persistent services: persistence_timeout 360 set, as keepalived does`,
		}},
		{"bad vs address", "virtual_server 10.0.0 80 {\n}\n", []string{`bad.conf:1:16: virtual_server: invalid IP address "10.0.0": ignored, as keepalived does`}},
		{"bad status code", vs("real_server 10.0.1.1 80 {", " HTTP_GET {", "  url {", "   path /", "   status_code 200-1000", "  }", " }", "}"), []string{
			`bad.conf:6:17: status_code: invalid status code or range "200-1000": ignored, as keepalived does`,
		}},
		{"bad digest", vs("real_server 10.0.1.1 80 {", " HTTP_GET {", "  url {", "   path /", "   digest xyz", "  }", " }", "}"), []string{
			`bad.conf:6:12: digest: "xyz" is not an MD5 digest (32 hex digits): ignored, as keepalived does`,
		}},
		{"url without path", vs("real_server 10.0.1.1 80 {", " HTTP_GET {", "  url {", "  }", " }", "}"), []string{
			`bad.conf:4:4: url: no path: this url is ignored, as keepalived does`,
			`bad.conf:3:3: HTTP_GET: no url with a path: this checker is removed, as keepalived does`,
		}},
		{"MISC_CHECK has no connect_ip", vs("real_server 10.0.1.1 80 {", " MISC_CHECK {", "  misc_path /bin/true", "  connect_ip 10.0.0.2", " }", "}"), []string{
			`bad.conf:5:4: unknown keyword "connect_ip" in MISC_CHECK: ignored, as keepalived does`,
		}},
		{"MISC_CHECK has no connect_timeout", vs("real_server 10.0.1.1 80 {", " MISC_CHECK {", "  misc_path /bin/true", "  connect_timeout 3", " }", "}"), []string{
			`bad.conf:5:4: unknown keyword "connect_timeout" in MISC_CHECK: ignored, as keepalived does`,
		}},
		{"bad hex payload", vs("real_server 10.0.1.1 80 {", " UDP_CHECK {", "  payload 12zz", " }", "}"), []string{`bad.conf:4:12: payload: invalid hex string "12zz": ignored, as keepalived does`}},
		{"lvs_sync_daemon_interface", inst("lvs_sync_daemon_interface eth1"), []string{
			`bad.conf:4:2: lvs_sync_daemon_interface in a vrrp_instance is deprecated in keepalived 2.2.7 (it says: please use global lvs_sync_daemon); used, as keepalived does`,
		}},
		{"nb_get_retry", vs("real_server 10.0.1.1 80 {", " HTTP_GET {", "  url {", "   path /", "  }", "  nb_get_retry 2", " }", "}"), []string{
			`bad.conf:7:4: nb_get_retry is deprecated in keepalived 2.2.7 (it says: please use 'retry'); read as retry, as keepalived does`,
		}},
		{"gw", inst("virtual_routes {", " 10.9.0.0/16 gw 10.0.0.1", "}"), []string{
			`bad.conf:5:15: virtual_routes: "gw" is deprecated in keepalived 2.2.7 (it says: please use "via"); read as via, as keepalived does`,
		}},
		{"bad vsg range", "virtual_server_group G {\n 10.0.0.10-5 80\n}\n", []string{`bad.conf:2:2: virtual_server_group: range "10.0.0.10-5" ends before it starts: ignored, as keepalived does`}},
		{"every warning is reported", inst("priority 0", "advert_int x", "state y", "bogus") + "virtual_server 10.0.0.1 80 {\n lb_algo zz\n}\n", []string{
			`bad.conf:4:11: priority: 0 is out of range [1, 255]: ignored, as keepalived does`,
			`bad.conf:5:13: advert_int: invalid time "x" (want seconds, e.g. 1 or 0.5): ignored, as keepalived does`,
			`bad.conf:6:8: state: unknown state "y" (MASTER and BACKUP are case-sensitive): BACKUP, as keepalived does`,
			`bad.conf:7:2: unknown keyword "bogus" in vrrp_instance: ignored, as keepalived does`,
			`bad.conf:10:10: lb_algo: unknown scheduler "zz" (names are lower case): ignored, as keepalived does`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warns, err := Parse(strings.NewReader(tt.conf), "bad.conf", Options{FS: fstest.MapFS{}})
			if err != nil || cfg == nil {
				t.Fatalf("Parse: %v (config %v), want it to run with warnings", err, cfg != nil)
			}
			var got []string
			for _, w := range warns {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s\nconfig:\n%s", diff, tt.conf)
			}
		})
	}
}

// Inputs that would expand without end (or exponentially) are stopped
// with a positioned error instead of exhausting time or memory.
func TestExpansionLimits(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"self-referencing multiline definition", "$M= \\\n$M \\\n$M\n$M\n", "bad.conf:4:1: parameter expansion nested deeper than 32 (recursive definition?)"},
		{"self-referencing definition", "$A=x$A\nglobal_defs {\n router_id $A\n}\n", "bad.conf:3:2: parameter substitution does not terminate"},
		{"huge ~SEQ", "~SEQ(A, 0, 1, 100000) router_id x\n", "bad.conf:1:1: ~SEQ has more than 65536 iterations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(strings.NewReader(tt.conf), "bad.conf", Options{FS: fstest.MapFS{}})
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			found := false
			for _, d := range pe.Diagnostics {
				found = found || d.String() == tt.want
			}
			if !found {
				t.Errorf("errors = %v, want one to be %q", pe.Diagnostics, tt.want)
			}
		})
	}
}
