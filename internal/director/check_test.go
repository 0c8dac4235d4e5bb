package director

import (
	"strings"
	"testing"
)

const routesConf = `vrrp_instance V {
    interface eth0
    virtual_router_id 9
    virtual_ipaddress {
        10.0.0.9/24
    }
    virtual_routes {
        10.1.0.0/16 via 10.0.0.1
    }
}
`

// Check builds every unit as a start does: a plan that Load takes but
// that cannot be built on the director's parts is refused, at the
// block's position. Here the Network given cannot add routes, which only
// the build of the instance finds (vrrp.New); then a failure injected
// into a unit's build. With the host's network the same file passes.
func TestCheckBuildsEveryUnit(t *testing.T) {
	path := writeTemp(t, routesConf)
	if _, _, err := Load(path, "h"); err != nil {
		t.Fatalf("Load: %v", err)
	}
	_, _, err := Check(Options{ConfigPath: path, Hostname: "h", Network: &fakeNetwork{}})
	want := path + ":1:1: vrrp_instance V: new vrrp instance: config: Routes need a Network that can add routes"
	if ds := Diagnostics(err); len(ds) != 1 || ds[0].String() != want {
		t.Errorf("Check = %v, want the one error %q", err, want)
	}
	if _, _, err := Check(Options{ConfigPath: path, Hostname: "h"}); err != nil {
		t.Errorf("Check with the host's network: %v", err)
	}

	d := newDirector(Options{ConfigPath: path, Hostname: "h"})
	plan, _, err := Load(path, "h")
	if err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"build error", "build panic"} {
		f := &fault{key: unitKey{kindVRRP, "instance V"}, what: what}
		d.wrapSpecs = f.wrap
		if err := d.check(plan); err == nil || !strings.Contains(err.Error(), "injected build") {
			t.Errorf("check with a %s = %v, want it", what, err)
		}
	}
}

// With a backend whose capabilities are known, Check refuses what it
// cannot carry, at its line.
func TestCheckCapabilities(t *testing.T) {
	path := writeTemp(t, "virtual_server 10.0.0.9 80 {\n    lb_kind DR\n    real_server 10.0.0.1 80 {\n    }\n}\n")
	_, _, err := Check(Options{ConfigPath: path, Backend: "userspace"})
	if ds := Diagnostics(err); len(ds) != 1 || !strings.HasPrefix(ds[0].String(), path+":2:5: lb_kind DR: not supported by the userspace backend") {
		t.Errorf("Check = %v", err)
	}
	if _, _, err := Check(Options{ConfigPath: path, Backend: "auto"}); err != nil {
		t.Errorf("Check with auto: %v", err)
	}
}
