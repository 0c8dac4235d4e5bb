// Command realserver prepares a host as an LVS real server and optionally
// serves a small page naming it.
//
// For direct routing (--vip), the VIP goes on lo as lo:0 with
// arp_ignore=1 and arp_announce=2, so the host accepts packets for the
// VIP but only the director answers ARP for it. For NAT, --gateway sets
// the default route through the director. On exit it undoes what it did,
// unless --keep is given.
//
//	realserver --vip 192.168.0.253 --interface eth0 --name web1 --http :80
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/lvskit/lvskit/internal/role"
	"github.com/lvskit/lvskit/netcfg"
)

func main() {
	var (
		vips, links      role.List
		gateway          string
		name, listenAddr string
		keep             bool
	)
	flag.Var(&vips, "vip", "virtual IP to accept on lo for direct routing (repeatable)")
	flag.Var(&links, "interface", "interface facing the director, for the ARP sysctls (repeatable)")
	flag.StringVar(&gateway, "gateway", "", "NAT mode: default gateway (the director)")
	flag.StringVar(&name, "name", "", "name shown by the page (default: host name)")
	flag.StringVar(&listenAddr, "http", "", "serve a page naming this host on this address, e.g. :80")
	flag.BoolVar(&keep, "keep", false, "leave the configuration in place on exit")
	flag.Parse()
	log := role.Logger("realserver")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "realserver:", err)
		os.Exit(1)
	}
	if name == "" {
		name, _ = os.Hostname()
	}
	var addrs []netip.Addr
	for _, v := range vips {
		a, err := netip.ParseAddr(v)
		if err != nil {
			fail(fmt.Errorf("--vip %q: %w", v, err))
		}
		addrs = append(addrs, a)
	}
	var gw netip.Addr
	if gateway != "" {
		var err error
		if gw, err = netip.ParseAddr(gateway); err != nil {
			fail(fmt.Errorf("--gateway %q: %w", gateway, err))
		}
	}
	h, err := netcfg.Open(netcfg.Config{Logger: log})
	if err != nil {
		fail(err)
	}
	defer h.Close()

	apply := func() (role.Changes, error) {
		var all role.Changes
		for _, a := range addrs {
			c, err := h.ConfigureRealServer(a, links...)
			if err != nil {
				return nil, errors.Join(err, all.Undo())
			}
			all = append(all, c)
		}
		if gw.IsValid() {
			zero := netip.IPv4Unspecified()
			if gw.Is6() {
				zero = netip.IPv6Unspecified()
			}
			c, err := h.AddRoute(netcfg.Route{Dst: netip.PrefixFrom(zero, 0), Gateway: gw})
			if err != nil {
				return nil, errors.Join(err, all.Undo())
			}
			all = append(all, c)
		}
		return all, nil
	}
	var serve func(context.Context) error
	if listenAddr != "" {
		serve = func(ctx context.Context) error { return servePage(ctx, listenAddr, name) }
	}
	if err := role.Hold(context.Background(), log, keep, apply, serve); err != nil {
		fail(err)
	}
}

// servePage answers every request with the host's name, in the body and in
// an X-Served-By header, until ctx ends.
func servePage(ctx context.Context, addr, name string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Served-By", name)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "served by %s\n", name)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
