package netcfg_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
)

// The book's router: an inside network and an outside one meet only in
// the router namespace, which forwards, masquerades the inside, and DNATs
// its outside address's port 80 to an inside server.
func TestIntegrationRouter(t *testing.T) {
	lab := netnstest.New(t)
	inner, router, outer := lab.Host("inner"), lab.Host("router"), lab.Host("outer")
	lab.Link(inner, "eth0", "192.168.0.1/24", router, "eth0", "192.168.0.254/24")
	lab.Link(router, "eth1", "203.0.113.1/24", outer, "eth0", "203.0.113.2/24")
	inner.AddRoute("default", "192.168.0.254")
	// outer knows no route to 192.168.0.0/24: replies to the inside can
	// only come back through the router's masquerade.
	h := open(t, router)

	// A new namespace may inherit ip_forward from the machine; start from off.
	if v, err := h.Sysctl(netcfg.KeyIPv4Forward); err != nil {
		t.Fatal(err)
	} else if v != "0" {
		router.SetSysctl("net.ipv4.ip_forward", "0")
	}
	settle(t, router)
	before := takeSnapshot(t, router)

	outLn, err := outer.Listen("tcp", "203.0.113.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, outLn, "outer")
	inLn, err := inner.Listen("tcp", "192.168.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, inLn, "inner")

	// A connection that must not pass gets 2 s (its SYN is dropped, so it
	// takes them all); one that must pass gets a bound for a broken path
	// on a loaded machine (a lost SYN is resent after 1, 3 and 7 s).
	dial := func(from *netnstest.Host, addr string, timeout time.Duration) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err := from.Dial(ctx, "tcp", addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		return exchange(t, c, "hi"), nil
	}

	if got, err := dial(inner, "203.0.113.2:9000", 2*time.Second); err == nil {
		t.Fatalf("inside reached outside before the router forwards: %q", got)
	}

	change := must(t)(h.ConfigureRouter(netcfg.Router{
		Masquerade: []netcfg.Masquerade{{Source: netip.MustParsePrefix("192.168.0.0/24"), OutLink: "eth1"}},
		DNAT:       []netcfg.DNAT{{Dst: netip.MustParseAddrPort("203.0.113.1:80"), To: netip.MustParseAddrPort("192.168.0.1:8080")}},
	}))
	t.Logf("ConfigureRouter changed:\n%s", change)

	// Outbound: the far side sees the router's outside address.
	got, err := dial(inner, "203.0.113.2:9000", 20*time.Second)
	if err != nil {
		t.Fatalf("inside to outside through the router: %v", err)
	}
	if want := "outer 203.0.113.1"; got != want {
		t.Errorf("outside server saw: got %q, want %q (masqueraded)", got, want)
	}
	// Inbound: the public port reaches the inside server, which sees the
	// real client.
	got, err = dial(outer, "203.0.113.1:80", 20*time.Second)
	if err != nil {
		t.Fatalf("outside to the public port: %v", err)
	}
	if want := "inner 203.0.113.2"; got != want {
		t.Errorf("inside server saw: got %q, want %q", got, want)
	}

	ruleset := router.Run("nft", "list", "ruleset")
	for _, want := range []string{"table inet lvskit", "masquerade", "dnat ip to 192.168.0.1:8080", `comment "lvskit: masquerade 192.168.0.0/24 out eth1"`} {
		if !strings.Contains(ruleset, want) {
			t.Errorf("nft list ruleset lacks %q:\n%s", want, ruleset)
		}
	}
	rules, err := h.NATRules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 {
		t.Errorf("NATRules: got %v, want the masquerade and the DNAT", rules)
	}

	if err := change.Undo(); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(inner, "203.0.113.2:9000", 2*time.Second); err == nil {
		t.Errorf("inside still reaches outside after undo: %q", got)
	}
	after := takeSnapshot(t, router)
	for k := range before {
		if diff := diffLines(before[k], after[k]); diff != "" {
			t.Errorf("router %s differs after undo (-before +after):\n%s", k, diff)
		}
	}
}
