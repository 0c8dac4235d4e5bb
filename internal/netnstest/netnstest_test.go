package netnstest

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestIntegrationPingAcrossLAN: one echo each way; ping waits up to 10 s
// for the reply, a bound for a loaded machine (it ends at the reply).
func TestIntegrationPingAcrossLAN(t *testing.T) {
	lab := New(t)
	a, b := lab.Host("a"), lab.Host("b")
	lan := lab.LAN("lan")
	lan.Connect(a, "eth0", "10.99.0.1/24", "fd00:99::1/64")
	lan.Connect(b, "eth0", "10.99.0.2/24", "fd00:99::2/64")

	out := a.Run("ping", "-c", "1", "-W", "10", "10.99.0.2")
	if !strings.Contains(out, "1 received") {
		t.Fatalf("ping 10.99.0.2 from a: %s", out)
	}
	out = b.Run("ping", "-6", "-c", "1", "-W", "10", "fd00:99::1")
	if !strings.Contains(out, "1 received") {
		t.Fatalf("ping fd00:99::1 from b: %s", out)
	}
}

func TestIntegrationTCPThroughRouter(t *testing.T) {
	lab := New(t)
	client, router, server := lab.Host("c"), lab.Host("r"), lab.Host("s")
	lab.Link(client, "eth0", "10.1.0.2/24", router, "eth1", "10.1.0.1/24")
	lab.Link(server, "eth0", "10.2.0.2/24", router, "eth0", "10.2.0.1/24")
	router.SetSysctl("net.ipv4.ip_forward", "1")
	client.AddRoute("default", "10.1.0.1")
	server.AddRoute("default", "10.2.0.1")

	ln, err := server.Listen("tcp", "10.2.0.2:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, c.RemoteAddr().String())
		c.Close()
	}()

	// A bound for a broken path, not a timing: a SYN lost on a loaded
	// machine is resent after 1, 3 and 7 s.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "tcp", "10.2.0.2:8080")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "10.1.0.2:") {
		t.Errorf("server saw peer %q, want the client's address 10.1.0.2", got)
	}
}

func TestIntegrationCleanupRemovesNamespaces(t *testing.T) {
	RequireRoot(t)
	var names []string
	t.Run("lab", func(t *testing.T) {
		lab := New(t)
		a := lab.Host("a")
		lan := lab.LAN("lan")
		lan.Connect(a, "eth0", "10.99.0.1/24")
		if err := a.Command(context.Background(), "sleep", "60").Start(); err != nil {
			t.Fatal(err)
		}
		names = []string{a.Name(), lan.Name()}
		have, err := Namespaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if !slices.Contains(have, n) {
				t.Errorf("namespace %s missing while the lab runs; have %v", n, have)
			}
		}
	})
	have, err := Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if slices.Contains(have, n) {
			t.Errorf("namespace %s left behind after the test", n)
		}
	}
}
