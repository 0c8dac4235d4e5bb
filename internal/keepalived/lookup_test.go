package keepalived

import (
	"path/filepath"
	"testing"
)

func TestLookups(t *testing.T) {
	cfg, _, err := ParseFile(filepath.Join("testdata", "sync_scripts.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if in := cfg.Instance("VI_B"); in == nil || in.VirtualRouterID.V != 32 {
		t.Errorf("Instance(VI_B) = %+v", in)
	}
	if s := cfg.Script("chk_haproxy"); s == nil || s.Weight.V != -30 {
		t.Errorf("Script(chk_haproxy) = %+v", s)
	}
	if f := cfg.TrackFile("maint_file"); f == nil || f.File.V != "/run/keepalived/maintenance" {
		t.Errorf("TrackFile(maint_file) = %+v", f)
	}
	if g := cfg.SyncGroupOf("VI_A"); g == nil || g.Name != "VG_1" {
		t.Errorf("SyncGroupOf(VI_A) = %+v", g)
	}
	if cfg.Instance("nope") != nil || cfg.Script("nope") != nil || cfg.TrackFile("nope") != nil ||
		cfg.SyncGroupOf("nope") != nil || cfg.VirtualServerGroup("nope") != nil {
		t.Error("lookup of a missing name returned a block")
	}
	fw, _, err := ParseFile(filepath.Join("testdata", "fwmark_groups.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g := fw.VirtualServerGroup(fw.VirtualServers[0].Group); g == nil || len(g.Entries) != 4 {
		t.Errorf("VirtualServerGroup(WEB) = %+v", g)
	}
}

func TestValueOr(t *testing.T) {
	var unset Value[int]
	if got := unset.Or(100); got != 100 {
		t.Errorf("unset.Or(100) = %d", got)
	}
	set := Value[int]{V: 0, Pos: Pos{File: "f", Line: 3, Col: 5}}
	if got := set.Or(100); got != 0 || !set.Set() {
		t.Errorf("set.Or(100) = %d, Set() = %v", got, set.Set())
	}
	if s := set.Pos.String(); s != "f:3:5" {
		t.Errorf("Pos.String() = %q", s)
	}
}
