package keepalived

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Keywords lvskit parses but does not implement are accepted and each one
// is reported with its position: never silent.
func TestWarnings(t *testing.T) {
	name := filepath.Join("testdata", "unimplemented.conf")
	cfg, warns, err := ParseFile(name, Options{})
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	at := func(line, col int) Pos { return Pos{File: name, Line: line, Col: col} }
	msg := func(kw string) string { return `keyword "` + kw + `" is not implemented by lvskit and is ignored` }
	want := []Warning{
		{Pos: at(4, 5), Keyword: "enable_snmp_vrrp", Msg: msg("enable_snmp_vrrp")},
		{Pos: at(5, 5), Keyword: "vrrp_iptables", Msg: msg("vrrp_iptables")},
		{Pos: at(6, 5), Keyword: "max_auto_priority", Msg: msg("max_auto_priority")},
		{Pos: at(9, 1), Keyword: "bfd_instance", Msg: msg("bfd_instance")},
		{Pos: at(16, 5), Keyword: "debug", Msg: msg("debug")},
		{Pos: at(17, 5), Keyword: "track_bfd", Msg: msg("track_bfd")},
		{Pos: at(21, 37), Keyword: "virtual_routes", Msg: `virtual_routes: option "pref" is not implemented by lvskit and is ignored`},
		{Pos: at(26, 5), Keyword: "persistence_engine", Msg: msg("persistence_engine")},
		{Pos: at(31, 17), Keyword: "regex", Msg: msg("regex")},
	}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	// The rest of the file is still parsed.
	if got := cfg.Instances[0].VirtualRoutes[0].Extra; !cmp.Equal(got, []string{"pref", "medium", "expires", "60"}) {
		t.Errorf("route Extra = %q", got)
	}
	if cfg.Global.RouterID.V != "warn-test" || len(cfg.VirtualServers[0].RealServers) != 1 {
		t.Errorf("config not fully parsed: %+v", cfg)
	}
	if s := want[0].String(); s != name+`:4:5: keyword "enable_snmp_vrrp" is not implemented by lvskit and is ignored` {
		t.Errorf("Warning.String() = %q", s)
	}
}

// Positions are exact: file, line and column of the keyword (for a
// Value) or of the first word of a list line.
func TestPositions(t *testing.T) {
	name := filepath.Join("testdata", "book_lvs_1.conf")
	cfg, _, err := ParseFile(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := func(line, col int) Pos { return Pos{File: name, Line: line, Col: col} }
	in := cfg.Instances[0]
	vs := cfg.VirtualServers[0]
	got := map[string]Pos{
		"global_defs":           cfg.Global.Pos,
		"notification_email[1]": cfg.Global.NotificationEmail[1].Pos,
		"smtp_server":           cfg.Global.SMTPServer.Pos,
		"lvs_sync_daemon":       cfg.Global.LVSSyncDaemon.Pos,
		"vrrp_instance":         in.Pos,
		"priority":              in.Priority.Pos,
		"authentication":        in.Authentication.Pos,
		"virtual_ipaddress[0]":  in.VirtualIPAddresses[0].Pos,
		"virtual_server":        vs.Pos,
		"lb_algo":               vs.Scheduler.Pos,
		"real_server[1]":        vs.RealServers[1].Pos,
		"real_server[1].weight": vs.RealServers[1].Weight.Pos,
		"HTTP_GET":              vs.RealServers[1].Checkers[0].Pos,
		"url":                   vs.RealServers[1].Checkers[0].HTTP.URLs[0].Pos,
		"status_code":           vs.RealServers[1].Checkers[0].HTTP.URLs[0].StatusCodes.Pos,
		"unset (persistence)":   in.PreemptDelay.Pos,
	}
	want := map[string]Pos{
		"global_defs":           p(5, 1),
		"notification_email[1]": p(8, 9),
		"smtp_server":           p(11, 5),
		"lvs_sync_daemon":       p(14, 5),
		"vrrp_instance":         p(17, 1),
		"priority":              p(21, 5),
		"authentication":        p(24, 5),
		"virtual_ipaddress[0]":  p(29, 9),
		"virtual_server":        p(33, 1),
		"lb_algo":               p(35, 5),
		"real_server[1]":        p(53, 5),
		"real_server[1].weight": p(54, 9),
		"HTTP_GET":              p(55, 9),
		"url":                   p(56, 13),
		"status_code":           p(58, 17),
		"unset (persistence)":   {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
}
