package main

import (
	"context"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/buildtest"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// The router program forwards, masquerades the inside network going out,
// and forwards a public port in; on SIGTERM it removes its rules.
func TestIntegrationRouterRole(t *testing.T) {
	lab := netnstest.New(t)
	bin := buildtest.Program(t, "github.com/lvskit/lvskit/examples/router")
	outside, router, inside := lab.Host("out"), lab.Host("r"), lab.Host("in")
	lab.Link(outside, "eth0", "203.0.113.2/24", router, "eth1", "203.0.113.1/24")
	lab.Link(inside, "eth0", "192.168.0.1/24", router, "eth0", "192.168.0.254/24")
	inside.AddRoute("default", "192.168.0.254")
	// No route back from the outside host: only masquerading lets its
	// answers find the inside host.

	var out nslab.Buffer // read while the program writes
	cmd := router.Command(context.Background(), bin, "--inside", "eth0", "--outside", "eth1",
		"--masquerade", "192.168.0.0/24", "--dnat", "203.0.113.1:80=192.168.0.1:8080")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	peerOf := func(server *netnstest.Host, listen string, client *netnstest.Host, dial string) string {
		t.Helper()
		ln, err := server.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
				c.Close()
			}
		}()
		// The router starts and sets its rules meanwhile: on a loaded
		// machine that can take seconds.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			c, err := client.Dial(ctx, "tcp", dial)
			cancel()
			if err == nil {
				b, _ := io.ReadAll(c)
				c.Close()
				return string(b)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no connection to %s; router said:\n%s", dial, out.String())
		return ""
	}
	if got := peerOf(outside, "203.0.113.2:9000", inside, "203.0.113.2:9000"); got != "203.0.113.1" {
		t.Errorf("outside host saw %s, want the router's masqueraded 203.0.113.1", got)
	}
	if got := peerOf(inside, "192.168.0.1:8080", outside, "203.0.113.1:80"); got != "203.0.113.2" {
		t.Errorf("inside host saw %s through the DNAT, want the client 203.0.113.2", got)
	}
	if rules := router.Run("nft", "list", "ruleset"); !strings.Contains(rules, "masquerade") || !strings.Contains(rules, "dnat") {
		t.Errorf("nft ruleset lacks the router's rules:\n%s", rules)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("router exited with %v:\n%s", err, out.String())
	}
	if rules := router.Run("nft", "list", "ruleset"); strings.Contains(rules, "masquerade") || strings.Contains(rules, "dnat") {
		t.Errorf("rules left after exit:\n%s", rules)
	}
	if got := strings.TrimSpace(router.Run("cat", "/proc/sys/net/ipv4/ip_forward")); got != "0" {
		t.Errorf("ip_forward after exit = %s, want 0 again", got)
	}
}
