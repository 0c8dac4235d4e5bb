package nsthread_test

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nsthread"
)

// A listener made by Run is in the namespace (ss there shows it, a dial
// there reaches it), a process started by Run runs there (ip addr shows
// the namespace's address), and the caller's thread is not moved.
func TestIntegrationRun(t *testing.T) {
	lab := netnstest.New(t)
	x := lab.Host("x")
	x.AddAddr("lo", "10.67.0.1/32")
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()

	var ln net.Listener
	if err := nsthread.Run(x.NsHandle(), func() (err error) { ln, err = net.Listen("tcp", "10.67.0.1:0"); return err }); err != nil {
		t.Fatalf("listen in the namespace: %v", err)
	}
	defer ln.Close()
	if out := x.Run("ss", "-Hltn"); !strings.Contains(out, ln.Addr().String()) {
		t.Errorf("ss in the namespace does not show %s:\n%s", ln.Addr(), out)
	}
	var out []byte
	if err := nsthread.Run(x.NsHandle(), func() (err error) { out, err = exec.Command("ip", "-o", "addr", "show", "lo").Output(); return err }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "10.67.0.1/32") {
		t.Errorf("a process started by Run does not see the namespace's address:\n%s", out)
	}
	now, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer now.Close()
	if !now.Equal(before) {
		t.Error("Run moved the calling thread")
	}
	// Without a namespace, Run calls fn where it is.
	called := false
	if err := nsthread.Run(netns.None(), func() error { called = true; return nil }); err != nil || !called {
		t.Errorf("Run(None): called %v, err %v", called, err)
	}
}
