package director

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/internal/nslab"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// The reload rig: a director on fakes (a recording IPVS table, a network
// in memory, a MemNet transport) with two real web servers on loopback.

// recordingBackend is an ipvs.Memory that remembers every operation
// applied, so a test can say exactly what a reload wrote.
type recordingBackend struct {
	*ipvs.Memory
	mu  sync.Mutex
	ops []ipvs.Op
}

func (r *recordingBackend) Apply(ctx context.Context, ops []ipvs.Op) error {
	err := r.Memory.Apply(ctx, ops)
	if err == nil {
		r.mu.Lock()
		r.ops = append(r.ops, ops...)
		r.mu.Unlock()
	}
	return err
}

func (r *recordingBackend) take() []ipvs.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

// fakeNetwork holds addresses in memory.
type fakeNetwork struct {
	mu    sync.Mutex
	addrs map[netip.Prefix]bool
}

func (f *fakeNetwork) AddAddress(_ context.Context, a vrrp.Address) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrs == nil {
		f.addrs = map[netip.Prefix]bool{}
	}
	f.addrs[a.Prefix] = true
	return nil
}

func (f *fakeNetwork) DeleteAddress(_ context.Context, a vrrp.Address) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.addrs, a.Prefix)
	return nil
}

func (f *fakeNetwork) Announce(context.Context, vrrp.Announcement) error { return nil }

func (f *fakeNetwork) has(p string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addrs[netip.MustParsePrefix(p)]
}

const reloadConf = `global_defs {
    router_id unit
    vrrp_version 3
{{GLOBAL}}}
vrrp_instance V {
    interface eth0
    dont_track_primary
    virtual_router_id 9
    priority {{PRIO}}
    advert_int 0.1
    virtual_ipaddress {
        10.0.0.9/24
    }
}
virtual_server 10.0.0.9 80 {
    protocol TCP
    delay_loop 1
    warmup 0
    lb_algo wrr
    real_server 127.0.0.1 {{P1}} {
        weight {{W1}}
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 10
        }
    }
    real_server 127.0.0.1 {{P2}} {
        weight {{W2}}
        notify_down "/usr/bin/touch {{MARK}}"
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 10
        }
    }
}
`

type reloadRig struct {
	t       *testing.T
	path    string
	p1, p2  int
	web2    *httptest.Server
	global  string
	mark    string // notify_down of the second server touches it
	memnet  *vrrp.MemNet
	d       *Director
	backend *recordingBackend
	net     *fakeNetwork
	cancel  context.CancelFunc
	done    chan error
	logs    *nslab.Buffer
}

func webServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	t.Cleanup(srv.Close)
	return srv
}

func port(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }

func (r *reloadRig) write(prio, w2 int) { r.writeW(prio, 3, w2) }

func (r *reloadRig) writeW(prio, w1, w2 int) {
	r.t.Helper()
	s := strings.NewReplacer("{{PRIO}}", fmt.Sprint(prio), "{{W1}}", fmt.Sprint(w1), "{{W2}}", fmt.Sprint(w2),
		"{{GLOBAL}}", r.global, "{{MARK}}", r.mark, "{{P1}}", fmt.Sprint(r.p1), "{{P2}}", fmt.Sprint(r.p2)).Replace(reloadConf)
	if err := os.WriteFile(r.path, []byte(s), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func newReloadRig(t *testing.T) *reloadRig { return newRig(t, "", nil) }

// newRig starts a director on fakes and real loopback web servers; global
// is added to global_defs.
func newRig(t *testing.T, global string, wrap func(*recordingBackend) ipvs.Backend) *reloadRig {
	return startRig(t, global, wrap, nil)
}

// startRig is newRig with the director's clock (nil: the wall clock).
func startRig(t *testing.T, global string, wrap func(*recordingBackend) ipvs.Backend, clk clock.Clock) *reloadRig {
	return startRigWith(t, global, wrap, func(o *Options) { o.Clock = clk })
}

// startRigWith is newRig with the director's options changed by opts.
func startRigWith(t *testing.T, global string, wrap func(*recordingBackend) ipvs.Backend, opts func(*Options)) *reloadRig {
	w1, w2 := webServer(t), webServer(t)
	r := &reloadRig{t: t, path: filepath.Join(t.TempDir(), "keepalived.conf"), p1: port(w1), p2: port(w2), web2: w2, global: global,
		mark:    filepath.Join(t.TempDir(), "web2-down"),
		backend: &recordingBackend{Memory: ipvs.NewMemory()}, net: &fakeNetwork{}, logs: &nslab.Buffer{}}
	r.write(100, 1)
	r.memnet = vrrp.NewMemNet()
	tr := r.memnet.Transport(netip.MustParseAddr("10.0.0.1"))
	var b ipvs.Backend = r.backend
	if wrap != nil {
		b = wrap(r.backend)
	}
	o := Options{ConfigPath: r.path, IPVS: b, Network: r.net, Transport: tr,
		Logger: slog.New(slog.NewTextHandler(r.logs, nil))}
	if opts != nil {
		opts(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("director log:\n%s", r.logs.String())
		}
	})
	return r
}

func (r *reloadRig) waitFor(what string, cond func(Status) bool) Status {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := r.d.Status(context.Background())
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("waiting for %s: %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metrics is the director's /metrics exposition.
func (r *reloadRig) metrics() string {
	r.t.Helper()
	srv := httptest.NewServer(r.d.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return string(body)
}

func (r *reloadRig) unit() *vrrpUnit {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	u, _ := r.d.units[unitKey{kindVRRP, "instance V"}].unit.(*vrrpUnit)
	return u
}

func bothHealthyInTable(st Status) bool {
	if len(st.VirtualServers) != 1 {
		return false
	}
	for _, rs := range st.VirtualServers[0].RealServers {
		if !rs.Healthy || !rs.InTable {
			return false
		}
	}
	return len(st.VRRP) == 1 && st.VRRP[0].State == "MASTER"
}
