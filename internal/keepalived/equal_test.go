package keepalived

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEqualIgnoresPositions(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "book_lvs_1.conf"))
	if err != nil {
		t.Fatal(err)
	}
	parse := func(text string) *Config {
		t.Helper()
		return mustParse(t, text, Options{})
	}
	base := parse(string(data))
	moved := parse("# a new comment\n\n" + strings.ReplaceAll(string(data), "    ", "\t"))
	if base.Instances[0].Pos == moved.Instances[0].Pos {
		t.Fatal("test setup: positions did not move")
	}
	if !Equal(base, moved) {
		t.Error("configs that differ only in positions are not Equal")
	}
	reweighted := parse(strings.Replace(string(data), "weight 3", "weight 4", 1))
	if Equal(base, reweighted) {
		t.Error("configs with different weights are Equal")
	}
	// Per block: the instance did not change, the virtual server did, and
	// only its first real server.
	if !Equal(base.Instances[0], reweighted.Instances[0]) {
		t.Error("unchanged instance is not Equal")
	}
	vs0, vs1 := base.VirtualServers[0], reweighted.VirtualServers[0]
	if Equal(vs0, vs1) || Equal(vs0.RealServers[0], vs1.RealServers[0]) || !Equal(vs0.RealServers[1], vs1.RealServers[1]) {
		t.Error("Equal does not single out the changed real server")
	}
	unset := parse(strings.Replace(string(data), "    advert_int 1\n", "", 1))
	if Equal(base.Instances[0], unset.Instances[0]) {
		t.Error("an explicit advert_int 1 is Equal to an unset one")
	}
	noAlert := parse(strings.Replace(string(data), "    smtp_alert\n", "    smtp_alert off\n", 1))
	dropped := parse(strings.Replace(string(data), "    smtp_alert\n", "", 1))
	if Equal(noAlert.Instances[0], dropped.Instances[0]) {
		t.Error("smtp_alert off is Equal to no smtp_alert")
	}
	if Equal(base, nil) || !Equal(nil, nil) || Equal(base.Instances[0], base.VirtualServers[0]) {
		t.Error("Equal on nil or different types")
	}
}
