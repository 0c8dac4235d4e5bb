package director

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

const badNameConf = "vrrp_instance V\xff1 {\n    interface eth0\n    virtual_router_id 9\n    virtual_ipaddress {\n        10.0.0.9/24\n    }\n}\n" +
	"virtual_server 10.0.0.9 80 {\n    real_server 127.0.0.1 8080 {\n    }\n}\n"

// A name that is not UTF-8 would panic in prometheus when the instance
// starts (issue 16). It is an error at its position, before anything is
// opened or configured.
func TestNewRefusesBadName(t *testing.T) {
	path := writeTemp(t, badNameConf)
	mem, net, logs := ipvs.NewMemory(), &fakeNetwork{}, &nslab.Buffer{}
	_, err := New(Options{ConfigPath: path, IPVS: mem, Network: net, Transport: vrrp.NewMemNet().Transport(netip.MustParseAddr("10.0.0.1")),
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	want := path + `:1:15: word "V\xff1": not valid UTF-8`
	if err == nil || Diagnostics(err)[0].String() != want {
		t.Fatalf("New = %v, want the error %q", err, want)
	}
	if l := logs.String(); !strings.Contains(l, "configuration: "+path+":1:15: word") || !strings.Contains(l, "not valid UTF-8") {
		t.Errorf("the error is not logged:\n%s", logs.String())
	}
	if svcs, _ := mem.Dump(context.Background()); len(svcs) != 0 || len(net.addrs) != 0 {
		t.Errorf("configured after a refused start: services %v, addresses %v", svcs, net.addrs)
	}
}

// A configuration made by other means than the parser meets the same
// rule in the libraries' Validate, at the block's position; the host name
// that stands in for router_id is checked too.
func TestTranslateRefusesBadNames(t *testing.T) {
	cfg, _, err := keepalived.Parse(strings.NewReader(strings.ReplaceAll(badNameConf, "V\xff1", "V1")), "x.conf", keepalived.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Instances[0].Name = "V\xff1"
	_, _, err = Translate(cfg, "x.conf", "h")
	if want := `x.conf:1:1: vrrp_instance "V\xff1": config: name "V\xff1": not valid UTF-8`; err == nil || Diagnostics(err)[0].String() != want {
		t.Errorf("Translate = %v, want %q", err, want)
	}
	cfg.Instances[0].Name = "V1"
	_, _, err = Translate(cfg, "x.conf", "h\x1b[31m")
	if want := `x.conf: config-id "h\x1b[31m" (the default router_id): control character U+001B`; err == nil || Diagnostics(err)[0].String() != want {
		t.Errorf("Translate with a bad host name = %v, want %q", err, want)
	}
}
