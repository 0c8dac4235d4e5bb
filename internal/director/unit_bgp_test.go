package director

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/bgp"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// The BGP unit on a speaker that opens no socket (no_listen, a passive
// neighbor without BFD): GoBGP runs for real, only the network is
// missing. What is checked is the director's side: which routes the
// speaker is asked to announce, and what a reload does to the speaker.
const bgpUnitConf = `bgp {
    local_as {{ASN}}
    router_id 10.0.0.1
    no_listen
    drain_timeout 1
    neighbor 10.0.0.254 {
        remote_as 65000
        passive
        no_bfd
    }
{{MORE}}
    announce 10.0.0.9
    announce 10.0.0.10
}
virtual_server 10.0.0.9 80 {
    delay_loop 1
    protocol TCP
    lb_algo mh
    real_server 127.0.0.1 {{UP}} {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
virtual_server 10.0.0.9 443 {
    delay_loop 1
    protocol TCP
    alpha
    lb_algo mh
    real_server 127.0.0.1 {{DOWN}} {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
virtual_server 10.0.0.10 80 {
    delay_loop 1
    protocol TCP
    alpha
    lb_algo mh
    real_server 127.0.0.1 {{DOWN}} {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
`

// bgpRig runs a director on the memory backend with bgpUnitConf.
type bgpRig struct {
	t          *testing.T
	path       string
	up, down   int
	d          *Director
	logs       *nslab.Buffer
	cancel     func()
	done       chan error
	listener   net.Listener
	release    func() // gives r.up back, for listen
	asn        uint32
	extraPeers string
}

func (r *bgpRig) write() {
	r.t.Helper()
	s := strings.NewReplacer("{{ASN}}", fmt.Sprint(r.asn), "{{MORE}}", r.extraPeers,
		"{{UP}}", fmt.Sprint(r.up), "{{DOWN}}", fmt.Sprint(r.down)).Replace(bgpUnitConf)
	if err := os.WriteFile(r.path, []byte(s), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// listen serves r.up, in place of the socket that held it.
func (r *bgpRig) listen() {
	r.t.Helper()
	r.release()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", r.up))
	if err != nil {
		r.t.Fatal(err)
	}
	r.listener = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// A reset leaves no TIME_WAIT on r.up, which would keep
			// reservePort from holding it again.
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
}

// die stops serving r.up and holds it again: the one real server of
// 10.0.0.9:80 is dead, and its port stays ours for its return.
func (r *bgpRig) die() {
	r.t.Helper()
	r.listener.Close()
	_, r.release = reservePort(r.t, r.up)
}

// reservePort binds a TCP socket to port on loopback (0: a free one)
// without listening: a connection there is refused, and nothing else can
// bind or connect from it (no SO_REUSEADDR) until release.
func reservePort(t *testing.T, port int) (int, func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatalf("reserve port %d: %v", port, err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	var once sync.Once
	return sa.(*syscall.SockaddrInet4).Port, func() { once.Do(func() { syscall.Close(fd) }) }
}

func startBGPRig(t *testing.T) *bgpRig {
	r := &bgpRig{t: t, path: filepath.Join(t.TempDir(), "keepalived.conf"), logs: &nslab.Buffer{}, asn: 65001}
	// A port nobody listens on: held by a socket that does not listen,
	// so that no test running beside this one takes it meanwhile.
	var release func()
	r.down, release = reservePort(t, 0)
	t.Cleanup(release)
	r.up, r.release = reservePort(t, 0)
	t.Cleanup(func() { r.release() }) // the one die took, if the test ends before listen
	r.listen()
	t.Cleanup(func() { r.listener.Close() })
	r.write()
	d, err := New(Options{ConfigPath: r.path, IPVS: ipvs.NewMemory(), Network: &fakeNetwork{},
		Transport: vrrp.NewMemNet().Transport(netip.MustParseAddr("10.0.0.1")),
		Logger:    slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("director log:\n%s", r.logs.String())
		}
	})
	return r
}

// stop ends Run (once) and waits for it.
func (r *bgpRig) stop() {
	r.cancel()
	if r.done == nil {
		return
	}
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		r.t.Errorf("Run did not return after cancel")
	}
	r.done = nil
}

// routes is what the speaker announces now, as "prefix state".
func routes(st Status) []string {
	var out []string
	if st.BGP == nil {
		return nil
	}
	for _, r := range st.BGP.Routes {
		out = append(out, r.Route.Prefix.String()+" "+r.State.String())
	}
	return out
}

func (r *bgpRig) waitRoutes(what string, want ...string) Status {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := r.d.Status(context.Background())
		if fmt.Sprint(routes(st)) == fmt.Sprint(want) && st.BGP.Running {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: routes %v, want %v (bgp status %+v)", what, routes(st), want, st.BGP)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An address is announced while any virtual server on it has its quorum
// (10.0.0.9:80 has it, 10.0.0.9:443 and 10.0.0.10:80 start down with
// alpha), withdrawn when the last loses it, announced again when one
// regains it. A reload that changes the peers keeps the speaker; one that
// changes the AS starts another; stopping withdraws and stops it.
func TestBGPUnitGate(t *testing.T) {
	r := startBGPRig(t)
	st := r.waitRoutes("at start", "10.0.0.9/32 announced")
	if a := st.BGP.Announce; len(a) != 2 || !a[0].QuorumUp || a[1].QuorumUp ||
		strings.Join(a[0].Services, ",") != "TCP 10.0.0.9:80,TCP 10.0.0.9:443" {
		t.Errorf("announce status %+v", a)
	}

	r.die()
	r.waitRoutes("quorum lost", "10.0.0.9/32 withdrawn")
	r.listen()
	r.waitRoutes("quorum back", "10.0.0.9/32 announced")

	run := r.d.bgpRun.Load()
	r.extraPeers = "    neighbor 10.0.0.253 {\n        remote_as 65000\n        passive\n        no_bfd\n    }\n"
	r.write()
	if err := r.d.Reload(); err != nil {
		t.Fatal(err)
	}
	st = r.waitRoutes("after adding a peer", "10.0.0.9/32 announced")
	if r.d.bgpRun.Load() != run {
		t.Error("a reload that only adds a peer started another speaker")
	}
	if len(st.BGP.Peers) != 2 || st.BGP.Peers[1].Address != netip.MustParseAddr("10.0.0.253") {
		t.Errorf("peers after the reload: %+v", st.BGP.Peers)
	}

	r.asn = 65002
	r.write()
	if err := r.d.Reload(); err != nil {
		t.Fatal(err)
	}
	r.waitRoutes("after changing the AS", "10.0.0.9/32 announced")
	if r.d.bgpRun.Load() == run {
		t.Error("a reload that changes the AS kept the speaker")
	}
	select {
	case <-run.done:
	default:
		t.Error("the old speaker still runs")
	}

	last := r.d.bgpRun.Load()
	r.stop()
	if r.d.bgpRun.Load() != nil {
		t.Error("a speaker is left after Run returned")
	}
	if st := last.sp.Status(); st.Running || st.Routes[0].State != bgp.RouteWithdrawn {
		t.Errorf("speaker after stop: %+v", st)
	}
	log := r.logs.String()
	if w, dr := strings.Index(log, "routes withdrawn; draining"), strings.Index(log, "bgp: drained"); w < 0 || dr < w {
		t.Errorf("no withdraw-then-drain in the log:\n%s", log)
	}
}
