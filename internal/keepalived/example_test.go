package keepalived_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lvskit/lvskit/internal/keepalived"
)

func ExampleParse() {
	conf := `
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.168.0.253/24 dev eth0 label eth0:1
    }
}
virtual_server 192.168.0.253 80 {
    lb_algo wrr
    lb_kind DR
    real_server 192.168.0.1 80 {
        weight 3
        HTTP_GET {
            url {
                path /
                status_code 200
            }
        }
    }
}
`
	cfg, _, err := keepalived.Parse(strings.NewReader(conf), "keepalived.conf", keepalived.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	in := cfg.Instances[0]
	fmt.Println(in.Name, in.State.V, in.Priority.V, in.AdvertInt.V, in.VirtualIPAddresses[0].Prefix)
	vs := cfg.VirtualServers[0]
	rs := vs.RealServers[0]
	fmt.Println(vs.Scheduler.V, vs.Forwarding.V.Method, rs.Addr, rs.Weight.V, rs.Checkers[0].Type)
	fmt.Println("delay_loop set:", vs.DelayLoop.Set(), "priority set at", in.Priority.Pos)
	// Output:
	// VI_1 MASTER 100 1s 192.168.0.253/24
	// wrr DR 192.168.0.1 3 HTTP_GET
	// delay_loop set: false priority set at keepalived.conf:6:5
}

func ExampleParseError() {
	// priority 300 and bogus are warnings (keepalived ignores both); a
	// missing virtual_router_id stops keepalived, so it is an error.
	conf := "vrrp_instance VI_1 {\n    interface eth0\n    priority 300\n    bogus yes\n}\n"
	_, warns, err := keepalived.Parse(strings.NewReader(conf), "bad.conf", keepalived.Options{})
	for _, w := range warns {
		fmt.Println("warning:", w)
	}
	var pe *keepalived.ParseError
	if errors.As(err, &pe) {
		for _, d := range pe.Diagnostics {
			fmt.Println("error:", d)
		}
	}
	// Output:
	// warning: bad.conf:3:14: priority: 300 is out of range [1, 255]: ignored, as keepalived does
	// warning: bad.conf:4:5: unknown keyword "bogus" in vrrp_instance: ignored, as keepalived does
	// error: bad.conf:1:1: vrrp_instance "VI_1": missing virtual_router_id (keepalived does not start either)
}
