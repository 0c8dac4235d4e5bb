package keepalived

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// globalRouterID parses conf and returns global_defs router_id.
func mustParse(t *testing.T, conf string, opts Options) *Config {
	t.Helper()
	if opts.FS == nil {
		opts.FS = fstest.MapFS{}
	}
	cfg, warns, err := Parse(strings.NewReader(conf), "t.conf", opts)
	if err != nil {
		t.Fatalf("Parse: %v\nconfig:\n%s", err, conf)
	}
	for _, w := range warns {
		t.Errorf("unexpected warning: %s", w)
	}
	return cfg
}

func TestSyntax(t *testing.T) {
	routerID := func(c *Config) any { return c.Global.RouterID.V }
	vips := func(c *Config) any {
		var out []string
		for _, a := range c.Instances[0].VirtualIPAddresses {
			out = append(out, a.Prefix.String())
		}
		return out
	}
	argv := func(c *Config) any { return c.Instances[0].NotifyMaster.V.Argv }
	tests := []struct {
		name string
		conf string
		opts Options
		get  func(*Config) any
		want any
	}{
		{"hash comment", "global_defs { # open\n router_id a # trailing\n} # close\n", Options{}, routerID, "a"},
		{"bang comment", "! whole line\nglobal_defs {\n router_id a!b\n}\n", Options{}, routerID, "a"},
		{"escaped comment characters", "global_defs {\n router_id a\\#b\\!c\n}\n", Options{}, routerID, "a#b!c"},
		{"comment characters inside quotes", "global_defs {\n router_id \"a # b ! c\"\n}\n", Options{}, routerID, "a # b ! c"},
		{"quotes glue to words", "global_defs {\n router_id ab\"c d\"e\n}\n", Options{}, routerID, "abc de"},
		{"escapes in quotes", "global_defs {\n router_id \"x\\x41\\101\\\"\\\\\"\n}\n", Options{}, routerID, "xAA\"\\"},
		{"control escapes in quotes", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n notify_master \"/bin/x\\ty\"\n}\n", Options{}, argv,
			[]string{"/bin/x", "y"}},
		{"quoted brace is text", "global_defs {\n router_id \"{x}\"\n}\n", Options{}, routerID, "{x}"},
		{"CRLF line ends", "global_defs {\r\n router_id a\r\n}\r\n", Options{}, routerID, "a"},
		{"brace on the next line", "global_defs\n{\n router_id a\n}\n", Options{}, routerID, "a"},
		{"block on one line", "global_defs { router_id a }\n", Options{}, routerID, "a"},
		{"close brace after a value", "global_defs {\n router_id a }\n", Options{}, routerID, "a"},
		{"tabs and blanks", "\tglobal_defs\t{\n\t\trouter_id\t\ta\n\t}\n", Options{}, routerID, "a"},
		{"@host kept for its host", "global_defs {\n@h1 router_id one\n@h2 router_id two\n}\n", Options{Host: "h2"}, routerID, "two"},
		{"@^host kept for other hosts", "global_defs {\n@^h1 router_id not-h1\n}\n", Options{Host: "h2"}, routerID, "not-h1"},
		{"@^host dropped for its host", "global_defs {\n router_id base\n@^h1 router_id not-h1\n}\n", Options{Host: "h1"}, routerID, "base"},
		{"@host without host name", "global_defs {\n router_id base\n@h1 router_id h1\n@^h1 router_id other\n}\n", Options{}, routerID, "other"},
		{"definition", "$ID=r1\nglobal_defs {\n router_id $ID\n}\n", Options{}, routerID, "r1"},
		{"braced definition inside a word", "$ID=r1\nglobal_defs {\n router_id x${ID}y\n}\n", Options{}, routerID, "xr1y"},
		{"definition replaced at use", "$A=${B}\n$B=1\nglobal_defs {\n router_id $A\n$B=2\n router_id $A\n}\n", Options{}, routerID, "2"},
		{"undefined parameter kept", "global_defs {\n router_id $NOPE\n}\n", Options{}, routerID, "$NOPE"},
		{"conditional definition", "@h1 $ID=one\n@^h1 $ID=other\nglobal_defs {\n router_id $ID\n}\n", Options{Host: "h1"}, routerID, "one"},
		{"definition expanding to a conditional", "$ONLY_H1=@h1\nglobal_defs {\n router_id base\n $ONLY_H1 router_id h1\n}\n", Options{Host: "h2"}, routerID, "base"},
		{"_INSTANCE", "global_defs {\n router_id ${_INSTANCE}\n}\n", Options{Host: "lvs_1"}, routerID, "lvs_1"},
		{"_RANDOM injected", "global_defs {\n router_id r${_RANDOM 5 9}\n}\n", Options{Random: func(lo, hi int) int { return lo*10 + hi }}, routerID, "r59"},
		{"_HASH and _BANG", "global_defs {\n router_id ${_HASH}${_BANG}\n}\n", Options{}, routerID, "#!"},
		{"~SEQ with end only", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n ~SEQ(N, 3) 10.0.0.${N}\n }\n}\n", Options{}, vips,
			[]string{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"}},
		{"~SEQ counting down", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n ~SEQ(N, 5, -2, 1) 10.0.0.${N}\n }\n}\n", Options{}, vips,
			[]string{"10.0.0.5/32", "10.0.0.3/32", "10.0.0.1/32"}},
		{"nested ~LST and ~SEQ", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n ~LST(A, 1, 2) ~SEQ(B, 7, 8) 10.${A}.0.${B}\n }\n}\n", Options{}, vips,
			[]string{"10.1.0.7/32", "10.1.0.8/32", "10.2.0.7/32", "10.2.0.8/32"}},
		{"nested multiline definitions", strings.Join([]string{
			`$VIP= \`,
			`  10.${A}.0.${B}/32 \`,
			``,
			`$VIPS= \`,
			`virtual_ipaddress { \`,
			`  $B=1 \`,
			`  $VIP \`,
			`  $B=2 \`,
			`  $VIP \`,
			`}`,
			`vrrp_instance V {`,
			` interface eth0`,
			` virtual_router_id 1`,
			` $A=9`,
			` $VIPS`,
			`}`,
		}, "\n"), Options{}, vips, []string{"10.9.0.1/32", "10.9.0.2/32"}},
		{"script words", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n notify_master \"/bin/x a 'b c' \\\"d e\\\" f\\\\ g\"\n}\n", Options{}, argv,
			[]string{"/bin/x", "a", "b c", "d e", "f g"}},
		{"keepalived booleans", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n smtp_alert no\n strict_mode\n skip_check_adv_addr off\n}\n", Options{},
			func(c *Config) any {
				in := c.Instances[0]
				return []bool{in.SMTPAlert.V, in.SMTPAlert.Set(), in.StrictMode.V, in.SkipCheckAdvAddr.V, in.SkipCheckAdvAddr.Set()}
			}, []bool{false, true, true, false, true}},
		{"preempt after nopreempt", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n nopreempt\n preempt\n}\n", Options{},
			func(c *Config) any { return c.Instances[0].NoPreempt }, Value[bool]{V: false, Pos: Pos{File: "t.conf", Line: 5, Col: 2}}},
		{"lvs_sync_daemon full form", "global_defs {\n lvs_sync_daemon eth1 inst VI id 9 maxlen 1400 port 8849 ttl 2 group 224.0.0.82\n}\n" +
			"vrrp_instance VI {\n interface eth1\n virtual_router_id 1\n}\n", Options{},
			func(c *Config) any { return c.Global.LVSSyncDaemon.V },
			LVSSyncDaemon{Interface: "eth1", Instance: "VI", SyncID: 9, MaxLen: 1400, Port: 8849, TTL: 2, Group: ip("224.0.0.82")}},
		{"lvs_sync_daemon without instance", "global_defs {\n lvs_sync_daemon eth0\n}\n", Options{},
			func(c *Config) any { return c.Global.LVSSyncDaemon.V }, LVSSyncDaemon{Interface: "eth0", SyncID: -1}},
		{"smtp_server host name, default port", "global_defs {\n smtp_server mail.example.com\n smtp_connect_timeout 2.5\n}\n", Options{},
			func(c *Config) any { return []any{c.Global.SMTPServer.V, c.Global.SMTPConnectTimeout.V.String()} },
			[]any{SMTPServer{Host: "mail.example.com"}, "2.5s"}},
		{"notify_deleted alone", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n notify_deleted\n}\n", Options{},
			func(c *Config) any {
				return []any{c.Instances[0].NotifyDeleted.Set(), c.Instances[0].NotifyDeleted.V.Raw}
			}, []any{true, ""}},
		{"vmac with address", "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n use_vmac vrrp1 00:00:5e:00:01\n}\n", Options{},
			func(c *Config) any { return c.Instances[0].UseVMAC.V }, VMAC{Name: "vrrp1", MAC: "00:00:5e:00:01"}},
		{"rules and static blocks", "static_ipaddress {\n 192.168.1.1/24 dev eth0 scope global\n}\nstatic_routes {\n default via 192.168.1.254 dev eth0\n}\nstatic_rules {\n from all to 10.0.0.0/8 lookup 10 pref 100 fwmark 0x10 iif eth0 oif eth1\n}\n", Options{},
			func(c *Config) any {
				return []any{c.StaticIPAddresses[0].Scope, c.StaticRoutes[0].Dst.String(), c.StaticRoutes[0].Via.String(), c.StaticRules[0]}
			},
			[]any{"global", "0.0.0.0/0", "192.168.1.254", Rule{Pos: Pos{File: "t.conf", Line: 8, Col: 2}, To: pfx("10.0.0.0/8"), Table: "10",
				Priority: Value[int]{V: 100, Pos: Pos{File: "t.conf", Line: 8, Col: 35}}, FwMark: "0x10", IIf: "eth0", OIf: "eth1"}}},
		{"ipv6 range end in hex", "virtual_server_group G {\n 2001:db8::a-1f 80\n}\n", Options{},
			func(c *Config) any { return c.VirtualServerGroups[0].Entries[0].Last.String() }, "2001:db8::1f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.conf, tt.opts)
			if diff := cmp.Diff(tt.want, tt.get(cfg), exactCmp); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"/bin/true", []string{"/bin/true"}},
		{"  /bin/x   a\tb ", []string{"/bin/x", "a", "b"}},
		{`/bin/x 'a b' "c d"`, []string{"/bin/x", "a b", "c d"}},
		{`/bin/x a\ b`, []string{"/bin/x", "a b"}},
		{`/bin/x 'it''s'`, []string{"/bin/x", "its"}},
		{`/bin/x ''`, []string{"/bin/x", ""}},
		// keepalived's alloc_strvec_quoted_escaped: escapes are decoded
		// inside single quotes too, and everywhere with its table.
		{`/bin/x 'a\nb' "c\td" e\x41\101\cA`, []string{"/bin/x", "a\nb", "c\td", "eAA\x01"}},
		{`/bin/x 'it\'s' "say \"hi\""`, []string{"/bin/x", "it's", `say "hi"`}},
		{`/bin/x \x414243 \xq`, []string{"/bin/x", "C", "xq"}}, // \x takes every hex digit (the byte wraps)
		{`/bin/x a"b c"'d e'f`, []string{"/bin/x", "ab cd ef"}},
	}
	for _, tt := range tests {
		got, err := splitCommand(tt.in)
		if err != nil {
			t.Errorf("splitCommand(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("splitCommand(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestSplitCommandErrors(t *testing.T) {
	for _, in := range []string{`/bin/x 'a`, `/bin/x "a`, `/bin/x a\`} {
		if got, err := splitCommand(in); err == nil {
			t.Errorf("splitCommand(%q) = %q, want an error", in, got)
		}
	}
}

func TestExpandBraces(t *testing.T) {
	got := expandBraces("a/{b,c{1,2}}/d{,x}")
	want := []string{"a/b/d", "a/b/dx", "a/c1/d", "a/c1/dx", "a/c2/d", "a/c2/dx"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
