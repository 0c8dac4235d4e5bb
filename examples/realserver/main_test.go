package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/buildtest"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// The real-server program puts the VIP on lo:0 with the DR sysctls, serves
// its page, and undoes everything on SIGTERM.
func TestIntegrationRealServerRole(t *testing.T) {
	lab := netnstest.New(t)
	bin := buildtest.Program(t, "github.com/lvskit/lvskit/examples/realserver")
	web, client := lab.Host("web"), lab.Host("client")
	lan := lab.LAN("lan")
	lan.Connect(web, "eth0", "10.99.0.1/24")
	lan.Connect(client, "eth0", "10.99.0.9/24")

	before := web.Run("ip", "-4", "addr", "show", "dev", "lo")
	var out nslab.Buffer // read while the program writes
	cmd := web.Command(context.Background(), bin, "--vip", "10.99.0.100", "--interface", "eth0", "--name", "web1", "--http", ":8080")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// The director would send VIP traffic to the real server's MAC: route
	// the VIP through its address from the client, as DR delivery does.
	client.AddRoute("10.99.0.100/32", "10.99.0.1")
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: client.DialContext, DisableKeepAlives: true}}
	var body string
	// The realserver starts and takes the VIP meanwhile: on a loaded
	// machine that can take seconds.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.Get("http://10.99.0.100:8080/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Header.Get("X-Served-By") != "web1" {
				t.Fatalf("X-Served-By = %q, want web1", resp.Header.Get("X-Served-By"))
			}
			body = string(b)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(body, "web1") {
		t.Fatalf("page through the VIP never answered; realserver said:\n%s", out.String())
	}
	lo := web.Run("ip", "-4", "addr", "show", "dev", "lo")
	if !strings.Contains(lo, "10.99.0.100/32") || !strings.Contains(lo, "lo:0") {
		t.Errorf("lo lacks the VIP with label lo:0:\n%s", lo)
	}
	for _, k := range []string{"all", "eth0"} {
		if got := strings.TrimSpace(web.Run("cat", "/proc/sys/net/ipv4/conf/"+k+"/arp_ignore")); got != "1" {
			t.Errorf("%s arp_ignore = %s, want 1", k, got)
		}
		if got := strings.TrimSpace(web.Run("cat", "/proc/sys/net/ipv4/conf/"+k+"/arp_announce")); got != "2" {
			t.Errorf("%s arp_announce = %s, want 2", k, got)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("realserver exited with %v:\n%s", err, out.String())
	}
	if after := web.Run("ip", "-4", "addr", "show", "dev", "lo"); after != before {
		t.Errorf("lo after exit:\n%s\nwant as before:\n%s", after, before)
	}
	if got := strings.TrimSpace(web.Run("cat", "/proc/sys/net/ipv4/conf/all/arp_ignore")); got != "0" {
		t.Errorf("arp_ignore after exit = %s, want 0 again", got)
	}
}
