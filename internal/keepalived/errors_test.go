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

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []string
	}{
		{"unknown top-level keyword", "global_defs {\n}\nfoo bar\n", []string{`bad.conf:3:1: unknown keyword "foo"`}},
		{"unknown keyword in block", inst("priorty 100"), []string{`bad.conf:4:2: unknown keyword "priorty" in vrrp_instance`}},
		{"number out of range", inst("priority 300"), []string{`bad.conf:4:11: priority: 300 is out of range [1, 255]`}},
		{"not a number", "vrrp_instance VI {\n interface eth0\n virtual_router_id abc\n}\n", []string{
			`bad.conf:3:20: virtual_router_id: invalid number "abc"`,
			`bad.conf:1:1: vrrp_instance "VI": missing virtual_router_id`,
		}},
		{"missing argument", inst("priority"), []string{`bad.conf:4:2: priority: missing argument`}},
		{"extra argument", inst("priority 100 200"), []string{`bad.conf:4:15: priority: unexpected argument "200"`}},
		{"bad duration", inst("advert_int fast"), []string{`bad.conf:4:13: advert_int: invalid time "fast" (want seconds, e.g. 1 or 0.5)`}},
		{"negative duration", inst("advert_int -1"), []string{`bad.conf:4:13: advert_int: time "-1" is out of range`}},
		{"zero advert_int", inst("advert_int 0"), []string{`bad.conf:4:2: advert_int: must be greater than 0`}},
		{"bad state", inst("state PRIMARY"), []string{`bad.conf:4:8: state: invalid state "PRIMARY" (want MASTER or BACKUP)`}},
		{"bad boolean", inst("smtp_alert maybe"), []string{`bad.conf:4:13: smtp_alert: invalid boolean "maybe" (want on|off|true|false|yes|no)`}},
		{"unclosed block", "global_defs {\n router_id x\n", []string{`bad.conf:1:1: block "global_defs" is not closed: missing '}'`}},
		{"stray close", "global_defs {\n}\n}\n", []string{`bad.conf:3:1: unexpected '}' with no open block`}},
		{"stray open", "{\n}\n", []string{`bad.conf:1:1: unexpected '{' without a keyword`, `bad.conf:2:1: unexpected '}' with no open block`}},
		{"unterminated quote", "global_defs {\n router_id \"abc\n}\n", []string{`bad.conf:2:12: unterminated quoted string`}},
		{"block on plain keyword", inst("priority 100 {", "}"), []string{`bad.conf:4:2: priority: does not take a { } block`}},
		{"plain use of block keyword", inst("virtual_ipaddress 10.0.0.1"), []string{`bad.conf:4:2: virtual_ipaddress: needs a { } block`}},
		{"bad address", inst("virtual_ipaddress {", " 10.0.0.300/24", "}"), []string{`bad.conf:5:3: virtual_ipaddress: invalid address/prefix "10.0.0.300/24"`}},
		{"bad address option", inst("virtual_ipaddress {", " 10.0.0.1/24 dev", "}"), []string{`bad.conf:5:15: virtual_ipaddress: dev needs a value`}},
		{"unknown address option", inst("virtual_ipaddress {", " 10.0.0.1/24 brick eth0", "}"), []string{`bad.conf:5:15: virtual_ipaddress: unknown option "brick"`}},
		{"mixed families", inst("virtual_ipaddress {", " 10.0.0.1/24", " 2001:db8::1/64", "}"), []string{
			`bad.conf:6:3: virtual_ipaddress: 2001:db8::1/64 is not of the same address family as 10.0.0.1 (use virtual_ipaddress_excluded to mix families)`,
		}},
		{"missing virtual_router_id", "vrrp_instance VI {\n interface eth0\n}\n", []string{`bad.conf:1:1: vrrp_instance "VI": missing virtual_router_id`}},
		{"missing interface", "vrrp_instance VI {\n virtual_router_id 7\n}\n", []string{`bad.conf:1:1: vrrp_instance "VI": missing interface`}},
		{"empty unicast_peer", inst("unicast_peer {", "}"), []string{`bad.conf:4:2: vrrp_instance "VI": unicast_peer has no peers`}},
		{"bad unicast_peer ttl", inst("unicast_peer {", " 10.0.0.2 min_ttl 300", "}"), []string{`bad.conf:5:20: unicast_peer min_ttl: 300 is out of range [0, 255]`}},
		{"undefined track_script", inst("track_script {", " chk_none weight 10", "}"), []string{`bad.conf:5:3: track_script: no vrrp_script named "chk_none"`}},
		{"track weight range", "vrrp_script s {\n script /bin/true\n}\n" + inst("track_script {", " s weight 300", "}"), []string{
			`bad.conf:8:12: track_script weight: 300 is out of range [-253, 253]`,
		}},
		{"vrrp_script without script", "vrrp_script s {\n interval 2\n}\n", []string{`bad.conf:1:1: vrrp_script "s": missing script`}},
		{"unterminated script quote", inst(`notify_master "/bin/x 'a b"`), []string{`bad.conf:4:16: notify_master: unterminated ' quote in command "/bin/x 'a b"`}},
		{"sync group member", "vrrp_sync_group G {\n group {\n  VI\n  VI_X\n }\n}\n" + inst(), []string{`bad.conf:4:3: vrrp_sync_group "G": no vrrp_instance named "VI_X"`}},
		{"auth without pass", inst("authentication {", " auth_type PASS", "}"), []string{`bad.conf:4:2: authentication: auth_type PASS needs auth_pass`}},
		{"bad auth type", inst("authentication {", " auth_type MD5", "}"), []string{
			`bad.conf:5:13: auth_type: invalid type "MD5" (want PASS or AH)`,
			`bad.conf:4:2: authentication: missing auth_type`,
		}},
		{"lvs_sync_daemon instance", "global_defs {\n lvs_sync_daemon eth0 inst VI_9\n}\n", []string{`bad.conf:2:2: lvs_sync_daemon: no vrrp_instance named "VI_9"`}},
		{"lvs_sync_daemon option", "global_defs {\n lvs_sync_daemon eth0 VI_9 ttl\n}\n", []string{`bad.conf:2:28: lvs_sync_daemon: ttl needs a value`}},
		{"smtp_server port", "global_defs {\n smtp_server 127.0.0.1 smtp\n}\n", []string{`bad.conf:2:24: smtp_server port: invalid number "smtp"`}},
		{"bad scheduler", vs("lb_algo fastest"), []string{`bad.conf:2:10: lb_algo: unknown scheduler "fastest"`}},
		{"bad forwarding", vs("lb_kind BRIDGE"), []string{`bad.conf:2:10: lb_kind: unknown forwarding method "BRIDGE" (want NAT, DR or TUN)`}},
		{"DR takes no options", vs("lvs_method DR csum"), []string{`bad.conf:2:16: lvs_method: unexpected argument "csum"`}},
		{"gue needs port", vs("lvs_method TUN type gue"), []string{`bad.conf:2:22: lvs_method: type gue needs port N`}},
		{"bad protocol", vs("protocol ICMP"), []string{`bad.conf:2:11: protocol: unknown protocol "ICMP" (want TCP, UDP or SCTP)`}},
		{"bad netmask", vs("persistence_granularity 255.0.255.0"), []string{`bad.conf:2:26: persistence_granularity: "255.0.255.0" is not a contiguous netmask`}},
		{"no port without persistence", "virtual_server 10.0.0.1 {\n lb_algo rr\n}\n", []string{
			`bad.conf:1:1: virtual_server 10.0.0.1: a port is required unless persistence_timeout is set`,
		}},
		{"undefined group", "virtual_server group NOPE {\n}\n", []string{`bad.conf:1:1: virtual_server: no virtual_server_group named "NOPE"`}},
		{"bad vs address", "virtual_server 10.0.0 80 {\n}\n", []string{`bad.conf:1:16: virtual_server: invalid IP address "10.0.0"`}},
		{"real server family", vs("real_server 2001:db8::1 80 {", "}"), []string{
			`bad.conf:2:2: real_server 2001:db8::1: address family differs from virtual_server 10.0.0.1`,
		}},
		{"bad status code", vs("real_server 10.0.1.1 80 {", " HTTP_GET {", "  url {", "   path /", "   status_code 200-1000", "  }", " }", "}"), []string{
			`bad.conf:6:17: status_code: invalid status code or range "200-1000"`,
		}},
		{"bad digest", vs("real_server 10.0.1.1 80 {", " HTTP_GET {", "  url {", "   path /", "   digest xyz", "  }", " }", "}"), []string{
			`bad.conf:6:12: digest: "xyz" is not an MD5 digest (32 hex digits)`,
		}},
		{"url without path", vs("real_server 10.0.1.1 80 {", " HTTP_GET {", "  url {", "  }", " }", "}"), []string{`bad.conf:4:4: url: missing path`}},
		{"MISC_CHECK has no connect_ip", vs("real_server 10.0.1.1 80 {", " MISC_CHECK {", "  misc_path /bin/true", "  connect_ip 10.0.0.2", " }", "}"), []string{
			`bad.conf:5:4: unknown keyword "connect_ip" in MISC_CHECK`,
		}},
		{"MISC_CHECK has no connect_timeout", vs("real_server 10.0.1.1 80 {", " MISC_CHECK {", "  misc_path /bin/true", "  connect_timeout 3", " }", "}"), []string{
			`bad.conf:5:4: unknown keyword "connect_timeout" in MISC_CHECK`,
		}},
		{"FILE_CHECK without track_file", vs("real_server 10.0.1.1 80 {", " FILE_CHECK {", " }", "}"), []string{`bad.conf:3:3: FILE_CHECK: missing track_file`}},
		{"FILE_CHECK unknown file", vs("real_server 10.0.1.1 80 {", " FILE_CHECK {", "  track_file nope", " }", "}"), []string{`bad.conf:4:4: FILE_CHECK: no track_file named "nope"`}},
		{"bad hex payload", vs("real_server 10.0.1.1 80 {", " UDP_CHECK {", "  payload 12zz", " }", "}"), []string{`bad.conf:4:12: payload: invalid hex string "12zz"`}},
		{"bad vsg range", "virtual_server_group G {\n 10.0.0.10-5 80\n}\n", []string{`bad.conf:2:2: virtual_server_group: range "10.0.0.10-5" ends before it starts`}},
		{"bad ~SEQ", "~SEQ(X, 1, -1, 5) router_id r${X}\n", []string{`bad.conf:1:1: invalid ~SEQ values: step -1 cannot go from 1 to 5`}},
		{"duplicate instance", inst() + inst(), []string{`bad.conf:6:1: vrrp_instance "VI" is defined twice`}},
		{"every error is reported", inst("priority 0", "advert_int x", "state y", "bogus") + "virtual_server 10.0.0.1 80 {\n lb_algo zz\n}\n", []string{
			`bad.conf:4:11: priority: 0 is out of range [1, 255]`,
			`bad.conf:5:13: advert_int: invalid time "x" (want seconds, e.g. 1 or 0.5)`,
			`bad.conf:6:8: state: invalid state "y" (want MASTER or BACKUP)`,
			`bad.conf:7:2: unknown keyword "bogus" in vrrp_instance`,
			`bad.conf:10:10: lb_algo: unknown scheduler "zz"`,
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
