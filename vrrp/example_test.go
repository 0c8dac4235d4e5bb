package vrrp_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// printNet is a Network that only prints; a real one is netcfg.Host.
type printNet struct{ name string }

func (n printNet) AddAddress(_ context.Context, a vrrp.Address) error {
	fmt.Printf("%s: add %v\n", n.name, a.Prefix)
	return nil
}
func (n printNet) DeleteAddress(_ context.Context, a vrrp.Address) error {
	fmt.Printf("%s: delete %v\n", n.name, a.Prefix)
	return nil
}
func (printNet) Announce(context.Context, vrrp.Announcement) error { return nil }

// Two routers on an in-memory network: the higher priority becomes master
// and holds the VIP; when it stops, the other takes over.
func Example() {
	mn := vrrp.NewMemNet()
	vip := []vrrp.VIP{{Prefix: netip.MustParsePrefix("192.168.0.253/32")}}
	masters := make(chan string, 4)
	router := func(name, addr string, prio int) *vrrp.Instance {
		inst, err := vrrp.New(vrrp.Config{
			Name: name, Interface: "eth0", VRID: 51, Version: 3, Priority: prio,
			AdvertInterval: 100 * time.Millisecond, VIPs: vip,
			Network:   printNet{name},
			Transport: mn.Transport(netip.MustParseAddr(addr)),
			Notify: vrrp.Notify{Func: func(t vrrp.Transition) {
				if t.To == vrrp.StateMaster {
					masters <- t.Name
				}
			}},
		})
		if err != nil {
			panic(err)
		}
		return inst
	}
	lvs1 := router("lvs1", "192.168.0.200", 200)
	lvs2 := router("lvs2", "192.168.0.201", 100)

	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := make(chan error)
	go func() { done1 <- lvs1.Run(ctx1) }()
	ctx2, stop2 := context.WithCancel(context.Background())
	done2 := make(chan error)
	go func() { done2 <- lvs2.Run(ctx2) }()

	fmt.Println("master:", <-masters)
	stop1() // graceful: priority 0, lvs2 takes over after its skew time
	<-done1
	fmt.Println("master:", <-masters)
	stop2()
	<-done2
	// Output:
	// lvs1: add 192.168.0.253/32
	// master: lvs1
	// lvs1: delete 192.168.0.253/32
	// lvs2: add 192.168.0.253/32
	// master: lvs2
	// lvs2: delete 192.168.0.253/32
}
