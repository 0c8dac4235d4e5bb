package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/netcfg/vrrpnet"
	"github.com/lvskit/lvskit/vrrp"
)

// ---- flood ----
//
// A master (VRRP v2, advert_int 1 s, priority 200) is flooded from a
// second host with valid adverts of lower priority (100), then with
// adverts of a bad checksum; the second host counts on the wire the
// adverts and gratuitous ARPs the master sends meanwhile, and the master's
// log grows. keepalived, as the master in the same lab, is the anchor: it
// answers every advert of lower priority.

// floodResult is what one implementation did under both floods.
type floodResult struct {
	impl                     string
	lowerSent                int // adverts of lower priority sent to it
	adverts, garps           int // its adverts and gratuitous ARPs during that flood
	badSent                  int // packets of a bad checksum sent to it
	lowerLogB, badLogB       int // bytes its log grew by during each flood
	lowerLogLns, badLogLines int
}

func benchFlood(w *strings.Builder, dur time.Duration, rate int) error {
	fmt.Fprintf(w, "## flood: a master under %v of adverts of lower priority, then of bad packets, at %d/s\n\n", dur, rate)
	fmt.Fprintf(w, "VRRP v2, advert_int 1 s; lvskit's instance logs at debug level; keepalived runs with --log-detail. "+
		"Over %v a quiet master sends about %d adverts.\n\n", dur, int(dur/time.Second))
	fmt.Fprintln(w, "| master | lower adverts sent | its adverts | its GARPs | log during them (lines, bytes) | bad packets sent | log during them (lines, bytes) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, impl := range []string{"lvskit", "keepalived"} {
		r, err := floodRun(impl, dur, rate)
		if err != nil {
			return fmt.Errorf("%s: %w", impl, err)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d, %d | %d | %d, %d |\n", r.impl, r.lowerSent, r.adverts, r.garps,
			r.lowerLogLns, r.lowerLogB, r.badSent, r.badLogLines, r.badLogB)
	}
	fmt.Fprintln(w)
	return nil
}

// lineCounter counts the lines and bytes written to it.
type lineCounter struct{ lines, bytes atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.bytes.Add(int64(len(p)))
	c.lines.Add(int64(strings.Count(string(p), "\n")))
	return len(p), nil
}

func floodRun(impl string, dur time.Duration, rate int) (_ floodResult, err error) {
	res := floodResult{impl: impl}
	lab := newLab()
	defer lab.Close()
	lan, err := lab.LAN("lan")
	if err != nil {
		return res, err
	}
	m, err := lab.Host("m")
	if err != nil {
		return res, err
	}
	b, err := lab.Host("b")
	if err != nil {
		return res, err
	}
	if err := lan.Connect(m, "eth0", "10.98.0.1/24"); err != nil {
		return res, err
	}
	if err := lan.Connect(b, "eth0", "10.98.0.2/24"); err != nil {
		return res, err
	}
	mAddr, bAddr := netip.MustParseAddr("10.98.0.1"), netip.MustParseAddr("10.98.0.2")
	vip := netip.MustParsePrefix("10.98.0.100/32")
	c := fcase{version: 2, interval: time.Second}
	var sn *sniffer
	if err := b.Do(func() (err error) { sn, err = newSniffer("eth0"); return err }); err != nil {
		return res, err
	}
	go sn.run()
	defer sn.close()

	// logSize is the master's log so far: lines and bytes.
	var logSize func() (int, int)
	switch impl {
	case "lvskit":
		ns := m.NsHandle()
		host, err := netcfg.Open(netcfg.Config{NetNSHandle: ns})
		if err != nil {
			return res, err
		}
		defer host.Close()
		tr := vrrp.NewRawTransport(vrrp.RawConfig{Netns: &ns})
		defer tr.Close()
		var lc lineCounter
		inst, err := vrrp.New(vrrp.Config{Interface: "eth0", VRID: 51, Version: 2, Priority: 200, AdvertInterval: time.Second,
			InitialState: vrrp.StateMaster, VIPs: []vrrp.VIP{{Prefix: vip}}, Network: vrrpnet.New(host), Transport: tr,
			Logger: slog.New(slog.NewTextHandler(&lc, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			return res, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- inst.Run(ctx) }()
		defer func() { cancel(); <-done }()
		logSize = func() (int, int) { return int(lc.lines.Load()), int(lc.bytes.Load()) }
	case "keepalived":
		tmp, err := os.MkdirTemp("", "vrrpbench")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		k, err := peer.RunKeepalived(m, filepath.Join(tmp, "m"), kaConf(c, "MASTER", 200, 51, "eth0", vip.String()))
		if err != nil {
			return res, err
		}
		defer k.Stop()
		logSize = func() (int, int) { l := k.Log(); return strings.Count(l, "\n"), len(l) }
	}

	// Steady: the master advertises, and its second round of gratuitous
	// ARPs (garp_master_delay, 5 s) is over.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		for _, e := range sn.snapshot() {
			if e.kind == "vrrp" && e.src == mAddr && e.prio == 200 {
				n++
			}
		}
		if n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("no master")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(6 * time.Second)

	lower := vrrp.Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip.Addr()}}
	pkt, err := lower.AppendMarshal(nil, bAddr, vrrp.GroupIPv4)
	if err != nil {
		return res, err
	}
	sn.reset()
	l0, b0 := logSize()
	if res.lowerSent, err = flood(b, pkt, dur, rate); err != nil {
		return res, err
	}
	time.Sleep(500 * time.Millisecond) // answers still on their way
	for _, e := range sn.snapshot() {
		switch {
		case e.kind == "vrrp" && e.src == mAddr && e.prio == 200:
			res.adverts++
		case e.kind == "garp" && e.src == vip.Addr():
			res.garps++
		}
	}
	l1, b1 := logSize()
	res.lowerLogLns, res.lowerLogB = l1-l0, b1-b0

	bad := append([]byte(nil), pkt...)
	bad[6] ^= 0xff // the checksum
	if res.badSent, err = flood(b, bad, dur, rate); err != nil {
		return res, err
	}
	time.Sleep(500 * time.Millisecond)
	l2, b2 := logSize()
	res.badLogLines, res.badLogB = l2-l1, b2-b1
	return res, nil
}

// flood sends pkt (a VRRP message) from h to 224.0.0.18 with TTL 255,
// rate times a second for dur, and returns how many it sent.
func flood(h *nslab.Host, pkt []byte, dur time.Duration, rate int) (int, error) {
	var fd int
	err := h.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 112)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255); err != nil {
			return err
		}
		return unix.BindToDevice(fd, "eth0")
	})
	if err != nil {
		return 0, fmt.Errorf("flood socket: %w", err)
	}
	defer unix.Close(fd)
	dst := &unix.SockaddrInet4{Addr: [4]byte(net.IPv4(224, 0, 0, 18).To4())}
	sent := 0
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for now := start; now.Sub(start) < dur; now = <-tick.C {
		// Catch up with the rate: time.Ticker drops ticks under load.
		for want := int(float64(rate) * now.Sub(start).Seconds()); sent < want; sent++ {
			if err := unix.Sendto(fd, pkt, 0, dst); err != nil {
				return sent, fmt.Errorf("flood: %w", err)
			}
		}
	}
	return sent, nil
}
