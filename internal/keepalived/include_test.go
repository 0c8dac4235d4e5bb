package keepalived

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// The includes corpus: globs relative to the including file, brace
// expansion, an include inside a block, a file included twice, an
// absolute path resolved at the root of Options.FS, and a pattern that
// matches nothing (a warning, as keepalived logs it).
func TestIncludeCorpus(t *testing.T) {
	opts := Options{Host: "director1", FS: os.DirFS("testdata")}
	got, warns, err := ParseFile("includes/keepalived.conf", opts)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	rs := func(port uint16) []RealServer {
		return []RealServer{{Pos: at, Addr: ip("10.8.1.1"), Port: port, Checkers: []Checker{{Pos: at, Type: TCPCheck}}}}
	}
	want := &Config{
		Global: GlobalDefs{Pos: at, RouterID: sv("inc-test")},
		Scripts: []VRRPScript{{
			Name: "chk_director1", Pos: at,
			Script: scr("includes/abs/check.sh", "includes/abs/check.sh"),
		}},
		Instances: []VRRPInstance{
			{Name: "VI_1", Pos: at, Interface: sv("eth0"), VirtualRouterID: iv(1), VirtualIPAddresses: []IPAddress{addr("10.8.0.1/24")}},
			{Name: "VI_2", Pos: at, Interface: sv("eth0"), VirtualRouterID: iv(2), VirtualIPAddresses: []IPAddress{addr("10.8.0.2/24")}},
		},
		VirtualServers: []VirtualServer{
			{Pos: at, Addr: ip("10.8.0.1"), Port: 80, RealServers: rs(80)},
			{Pos: at, Addr: ip("10.8.0.1"), Port: 443, RealServers: rs(8443)},
		},
	}
	if diff := cmp.Diff(want, got, positionsCmp); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	// Positions name the included file and its own line numbers.
	wantPos := []Pos{
		{File: "includes/vrrp/10-vi1.conf", Line: 1, Col: 1},
		{File: "includes/vrrp/vi1-vips.inc", Line: 2, Col: 9},
		{File: "includes/lvs/real.inc", Line: 1, Col: 1},
	}
	gotPos := []Pos{got.Instances[0].Pos, got.Instances[0].VirtualIPAddresses[0].Pos, got.VirtualServers[1].RealServers[0].Pos}
	if diff := cmp.Diff(wantPos, gotPos); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
	wantWarn := []Warning{{
		Pos:     Pos{File: "includes/keepalived.conf", Line: 8, Col: 9},
		Keyword: "include",
		Msg:     `include "conf.d/none-*.conf" matched no file`,
	}}
	if diff := cmp.Diff(wantWarn, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// ParseFile on the operating system's files (Options.FS nil) resolves
// includes relative to the including file, wherever the process runs.
func TestIncludeOSFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(dir+"/"+name[:strings.LastIndex(name, "/")+1], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/keepalived.conf", "include conf.d/*.conf\nglobal_defs {\n router_id ${_PWD}\n}\n")
	write("etc/conf.d/a.conf", "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n}\n")
	write("etc/conf.d/b.conf", "include "+dir+"/abs.conf\n")
	write("abs.conf", "vrrp_instance B {\n interface eth0\n virtual_router_id 2\n}\n")
	got, warns, err := ParseFile(dir+"/etc/keepalived.conf", Options{})
	if err != nil || len(warns) > 0 {
		t.Fatalf("ParseFile: %v %v", err, warns)
	}
	if got.Global.RouterID.V != dir+"/etc" {
		t.Errorf("${_PWD} = %q, want %q", got.Global.RouterID.V, dir+"/etc")
	}
	if len(got.Instances) != 2 || got.Instances[0].Name != "A" || got.Instances[1].Name != "B" {
		t.Fatalf("instances = %+v, want A and B", got.Instances)
	}
	if p := got.Instances[1].Pos; p.File != dir+"/abs.conf" || p.Line != 1 {
		t.Errorf("position of B = %v, want %s/abs.conf:1:1", p, dir)
	}
}

func TestIncludeErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"k/main.conf":   {Data: []byte("include loop.conf\n")},
		"k/loop.conf":   {Data: []byte("include main.conf\n")},
		"k/strict.conf": {Data: []byte("includea missing/*.conf\nincludem {a,b}.conf\nincludeb {x,y}.conf\ninclude nothing.conf\n")},
		"k/x.conf":      {Data: []byte("")},
		"k/bad.conf":    {Data: []byte("include [\n")},
	}
	tests := []struct {
		file  string
		want  []string
		warns []string
	}{
		{file: "k/main.conf", want: []string{"k/main.conf:1:1: include nesting deeper than 16 (include loop?)"}},
		{
			file: "k/strict.conf",
			want: []string{
				`k/strict.conf:1:10: include "missing/*.conf" matched no file`,
				`k/strict.conf:2:10: include "{a,b}.conf" matched no file`,
				`k/strict.conf:3:10: include "{x,y}.conf": "k/y.conf" matched no file`,
			},
			warns: []string{`k/strict.conf:4:9: include "nothing.conf" matched no file`},
		},
		{file: "k/bad.conf", want: []string{`k/bad.conf:1:9: include "[": syntax error in pattern`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, warns, err := ParseFile(tt.file, Options{FS: fsys})
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			var got []string
			for _, d := range pe.Diagnostics {
				got = append(got, d.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			var gotW []string
			for _, w := range warns {
				gotW = append(gotW, w.String())
			}
			if diff := cmp.Diff(tt.warns, gotW); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
