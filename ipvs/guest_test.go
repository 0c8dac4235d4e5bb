package ipvs

// Kernel-tier tests: TestKernel boots the qemu VM once and runs every
// TestGuest* test inside it, where the kernel has IPVS. The guest tests
// program the kernel through the netlink backend and check the result
// with ipvsadm, an independent reader and writer of the same table.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/internal/vmtest"
)

// TestKernel is the host half: one VM boot for all guest tests.
func TestKernel(t *testing.T) {
	if vmtest.InGuest() {
		t.Skip("host half of the kernel tests")
	}
	if testing.Short() {
		t.Skip("boots a VM")
	}
	vmtest.Run(t, vmtest.Config{Package: "./ipvs", Run: "^TestGuest", Args: []string{"-test.count=1"}, Timeout: 8 * time.Minute})
}

// TestKernelBench runs the programming benchmark in the VM. It runs only
// with LVSKIT_BENCH=1 (make bench) and prints one "BENCH ipvs ..." line.
func TestKernelBench(t *testing.T) {
	if vmtest.InGuest() || os.Getenv("LVSKIT_BENCH") != "1" {
		t.Skip("set LVSKIT_BENCH=1 to run the IPVS benchmark in the VM")
	}
	res := vmtest.Run(t, vmtest.Config{Package: "./ipvs", Run: "^TestGuestBench$", Args: []string{"-test.count=1"},
		Env: append([]string{"LVSKIT_BENCH=1"}, benchEnv()...), Timeout: 10 * time.Minute})
	var lines []string
	for _, l := range res.Console {
		if i := strings.Index(l, "BENCH ipvs"); i >= 0 {
			lines = append(lines, l[i:])
			fmt.Println(l[i:])
		}
	}
	if len(lines) == 0 {
		t.Fatal("the guest printed no BENCH line")
	}
	if out := os.Getenv("LVSKIT_BENCH_OUT"); out != "" {
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintln(f, strings.Join(lines, "\n"))
	}
}

// guestTable opens the netlink backend in a fresh namespace of the guest.
func guestTable(t *testing.T) (*gHost, *Netlink) {
	t.Helper()
	vmtest.RequireGuest(t)
	h := newGHost(t, "dir")
	n, err := OpenNetlink(NetlinkConfig{Netns: h.NsHandle()})
	if err != nil {
		t.Fatalf("OpenNetlink: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return h, n
}

// coverageTable has every scheduler of the kernel, TCP, UDP, SCTP and
// firewall-mark services in IPv4 and IPv6, every forwarding method and
// tunnel type, scheduler flags, persistence with masks and the sip
// engine, and thresholds.
func coverageTable(pe bool) []Service {
	a := netip.MustParseAddr
	var tab []Service
	for i, sched := range []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"} {
		tab = append(tab, Service{Protocol: TCP, Addr: a("10.10.0.1"), Port: uint16(1000 + i), Scheduler: sched,
			Destinations: []Destination{
				{Addr: a("10.20.0.1"), Port: 80, Weight: 1, Forward: Masquerade},
				{Addr: a("10.20.0.2"), Port: 80, Weight: 3, Forward: DirectRoute, UpperThreshold: 100, LowerThreshold: 50},
			}})
	}
	tab = append(tab,
		Service{Protocol: UDP, Addr: a("10.10.0.2"), Port: 53, Scheduler: "sh", Flags: SHFallback | SHPort | OnePacket,
			Destinations: []Destination{{Addr: a("10.20.0.3"), Weight: 2, Forward: Masquerade}}},
		Service{Protocol: UDP, Addr: a("10.10.0.2"), Port: 54, Scheduler: "mh", Flags: MHPort,
			Destinations: []Destination{{Addr: a("10.20.0.3"), Port: 5353, Weight: 2, Forward: Masquerade}}},
		Service{Protocol: SCTP, Addr: a("10.10.0.3"), Port: 3868, Scheduler: "rr",
			Destinations: []Destination{{Addr: a("10.20.0.4"), Weight: 1, Forward: DirectRoute}}},
		Service{Protocol: TCP, Addr: a("10.10.0.4"), Port: 443, Scheduler: "wlc", PersistenceTimeout: 600 * time.Second, PersistenceBits: 24,
			Destinations: []Destination{
				{Addr: a("10.20.0.5"), Weight: 1, Forward: Tunnel, TunnelType: TunnelIPIP},
				{Addr: a("10.20.0.6"), Weight: 2, Forward: Tunnel, TunnelType: TunnelGUE, TunnelPort: 6080, TunnelFlags: TunnelCsum},
				{Addr: a("10.20.0.7"), Weight: 3, Forward: Tunnel, TunnelType: TunnelGUE, TunnelPort: 6081, TunnelFlags: TunnelRemoteCsum},
				{Addr: a("10.20.0.8"), Weight: 4, Forward: Tunnel, TunnelType: TunnelGRE, TunnelFlags: TunnelCsum},
				{Addr: a("10.20.0.9"), Weight: 5, Forward: Tunnel, TunnelType: TunnelGRE},
			}},
		Service{Protocol: TCP, Addr: a("fd00:10::1"), Port: 80, Scheduler: "wrr", PersistenceTimeout: 30 * time.Second, PersistenceBits: 64,
			Destinations: []Destination{
				{Addr: a("fd00:20::1"), Port: 8080, Weight: 5, Forward: Masquerade},
				{Addr: a("fd00:20::2"), Weight: 0, Forward: DirectRoute},
				{Addr: a("10.20.0.10"), Weight: 1, Forward: Tunnel, TunnelType: TunnelIPIP}, // IPv4 tunnel for an IPv6 service
			}},
		Service{Protocol: UDP, Addr: a("fd00:10::2"), Port: 5060, Scheduler: "rr",
			Destinations: []Destination{{Addr: a("fd00:20::3"), Weight: 1, Forward: Masquerade}}},
		Service{FWMark: 1, Family: Inet, Scheduler: "lc",
			Destinations: []Destination{{Addr: a("10.20.0.11"), Weight: 1, Forward: DirectRoute}}},
		Service{FWMark: 2, Family: Inet6, Scheduler: "sed", PersistenceTimeout: 120 * time.Second,
			Destinations: []Destination{{Addr: a("fd00:20::4"), Weight: 7, Forward: DirectRoute}}},
	)
	if pe {
		tab = append(tab, Service{Protocol: UDP, Addr: a("10.10.0.5"), Port: 5060, Scheduler: "rr", PersistenceTimeout: 60 * time.Second, PEName: "sip",
			Destinations: []Destination{{Addr: a("10.20.0.12"), Weight: 1, Forward: Masquerade}}})
	}
	return tab
}

// checkWithIpvsadm compares the kernel's table as ipvsadm shows it, field
// by field, with want: the rule view (-Sn) for every setting, the list
// view (-Ln) for scheduler, persistence, forwarding and weight, and the
// threshold view (-Ln --thresholds).
func checkWithIpvsadm(t *testing.T, h *gHost, want []Service) {
	t.Helper()
	saved := h.Run("/sbin/ipvsadm", "-Sn")
	got, err := parseRules(saved)
	if err != nil {
		t.Fatalf("parse ipvsadm -Sn: %v\n%s", err, saved)
	}
	// The rule view has no thresholds (the --thresholds view below has
	// them).
	saveView := Canonical(want)
	for i := range saveView {
		if sc := saveView[i].Scheduler; sc == "sh" || sc == "mh" {
			saveView[i].Flags &^= Sched3 // ipvsadm names only sh-/mh- flags 1 and 2
		}
		for j := range saveView[i].Destinations {
			saveView[i].Destinations[j].UpperThreshold, saveView[i].Destinations[j].LowerThreshold = 0, 0
		}
	}
	if d := cmp.Diff(saveView, Canonical(got), addrCmp); d != "" {
		t.Errorf("ipvsadm -Sn differs (-want +got):\n%s\nipvsadm -Sn:\n%s", d, saved)
	}

	listed := h.Run("/sbin/ipvsadm", "-Ln")
	ls, err := parseList(listed)
	if err != nil {
		t.Fatalf("parse ipvsadm -Ln: %v\n%s", err, listed)
	}
	byKey := map[string]listedService{}
	for _, s := range ls {
		byKey[s.Key] = s
	}
	if len(ls) != len(want) {
		t.Errorf("ipvsadm -Ln lists %d services, want %d\n%s", len(ls), len(want), listed)
	}
	for _, w := range Canonical(want) {
		l, ok := byKey[listKey(&w)]
		if !ok {
			t.Errorf("ipvsadm -Ln lacks %s\n%s", listKey(&w), listed)
			continue
		}
		if l.Scheduler != w.Scheduler {
			t.Errorf("%s: ipvsadm -Ln scheduler %q, want %q", l.Key, l.Scheduler, w.Scheduler)
		}
		if l.Persistent != uint64(w.PersistenceTimeout/time.Second) {
			t.Errorf("%s: ipvsadm -Ln persistent %d, want %v", l.Key, l.Persistent, w.PersistenceTimeout)
		}
		dests := map[netip.AddrPort]listedDest{}
		for _, d := range l.Dests {
			dests[d.Addr] = d
		}
		if len(l.Dests) != len(w.Destinations) {
			t.Errorf("%s: ipvsadm -Ln lists %d destinations, want %d", l.Key, len(l.Dests), len(w.Destinations))
		}
		for _, d := range w.Destinations {
			ld, ok := dests[netip.AddrPortFrom(d.Addr, d.Port)]
			if !ok {
				t.Errorf("%s: ipvsadm -Ln lacks destination %s", l.Key, d.Key())
				continue
			}
			if ld.Forward != listForward(d.Forward) || ld.Weight != d.Weight {
				t.Errorf("%s -> %s: ipvsadm -Ln says %s weight %d, want %s weight %d", l.Key, d.Key(), ld.Forward, ld.Weight, listForward(d.Forward), d.Weight)
			}
		}
	}

	th := h.Run("/sbin/ipvsadm", "-Ln", "--thresholds")
	// Same layout as -Ln with Uthreshold Lthreshold in the Forward/Weight columns.
	tls, err := parseThresholds(th)
	if err != nil {
		t.Fatalf("parse ipvsadm -Ln --thresholds: %v\n%s", err, th)
	}
	for _, w := range Canonical(want) {
		for _, d := range w.Destinations {
			k := listKey(&w) + " -> " + netip.AddrPortFrom(d.Addr, d.Port).String()
			if got, ok := tls[k]; !ok || got != [2]uint32{d.UpperThreshold, d.LowerThreshold} {
				t.Errorf("%s: ipvsadm --thresholds %v, want [%d %d]", k, got, d.UpperThreshold, d.LowerThreshold)
			}
		}
	}
}

// parseThresholds reads `ipvsadm -Ln --thresholds` destination lines.
func parseThresholds(text string) (map[string][2]uint32, error) {
	out := map[string][2]uint32{}
	var cur string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(line, "IP Virtual") || strings.HasPrefix(line, "Prot") || strings.Contains(line, "RemoteAddress"):
		case f[0] == "->":
			if len(f) < 4 {
				return nil, fmt.Errorf("line %q", line)
			}
			var u, l uint32
			if _, err := fmt.Sscan(f[2]+" "+f[3], &u, &l); err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			out[cur+" -> "+f[1]] = [2]uint32{u, l}
		case f[0] == "FWM" && len(f) > 2 && f[2] == "IPv6":
			cur = "FWM " + f[1] + " IPv6"
		case len(f) >= 2:
			cur = f[0] + " " + f[1]
		}
	}
	return out, nil
}

func checkDump(t *testing.T, n *Netlink, want []Service) {
	t.Helper()
	got, err := n.Dump(context.Background())
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	if d := cmp.Diff(Canonical(want), Canonical(got), addrCmp); d != "" {
		t.Errorf("Dump differs (-want +got):\n%s", d)
	}
}

// peAvailable reports whether the kernel has the sip persistence engine,
// and checks that its absence is ErrNotSupported.
func peAvailable(t *testing.T, n *Netlink) bool {
	ctx := context.Background()
	s := Service{Protocol: UDP, Addr: netip.MustParseAddr("10.99.0.1"), Port: 5060, PersistenceTimeout: time.Minute, PEName: "sip"}
	err := n.Apply(ctx, []Op{{Kind: AddService, Service: s}})
	if err != nil {
		if !errors.Is(err, ErrNotSupported) {
			t.Fatalf("add service with pe sip: %v, want nil or ErrNotSupported", err)
		}
		t.Logf("kernel has no sip persistence engine: %v", err)
		return false
	}
	if err := n.Apply(ctx, []Op{{Kind: DeleteService, Service: s}}); err != nil {
		t.Fatal(err)
	}
	return true
}

// TestGuestProgramAndRead: what lvskit programs is what ipvsadm reports,
// and a second Sync of the same table writes nothing.
func TestGuestProgramAndRead(t *testing.T) {
	h, n := guestTable(t)
	ctx := context.Background()
	tab := coverageTable(peAvailable(t, n))
	w0 := n.Writes()
	ops, err := Sync(ctx, n, tab)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	wantOps := 0
	for _, s := range tab {
		wantOps += 1 + len(s.Destinations)
	}
	if len(ops) != wantOps || n.Writes()-w0 != uint64(wantOps) {
		t.Errorf("Sync into an empty table: %d ops, %d writes; want %d", len(ops), n.Writes()-w0, wantOps)
	}
	checkDump(t, n, tab)
	checkWithIpvsadm(t, h, tab)

	w1 := n.Writes()
	if ops, err := Sync(ctx, n, tab); err != nil || len(ops) != 0 || n.Writes() != w1 {
		t.Errorf("no-op Sync: ops %v, err %v, writes %d", ops, err, n.Writes()-w1)
	}

	// Edit in place: scheduler, persistence, weight, forwarding, tunnel,
	// thresholds; remove a destination and a service; add others.
	tab2 := coverageTable(false)
	tab2[0].Scheduler = "sh"
	tab2[0].Flags = SHPort
	tab2[1].PersistenceTimeout = 90 * time.Second
	tab2[1].Destinations[0].Weight = 9
	tab2[1].Destinations[1].Forward = Tunnel
	tab2[1].Destinations[1].TunnelType = TunnelGRE
	tab2[2].Destinations[1].UpperThreshold, tab2[2].Destinations[1].LowerThreshold = 0, 0
	tab2[3].Destinations = tab2[3].Destinations[:1]
	tab2 = append(tab2[:5], tab2[6:]...)
	tab2 = append(tab2, Service{Protocol: TCP, Addr: netip.MustParseAddr("10.10.0.9"), Port: 80,
		Destinations: []Destination{{Addr: netip.MustParseAddr("10.20.0.99"), Weight: 1}}})
	ops, err = Sync(ctx, n, tab2)
	if err != nil {
		t.Fatalf("Sync edit: %v", err)
	}
	for _, op := range ops {
		if op.Kind == DeleteService && op.Service.Key() == tab2[0].Key() {
			t.Errorf("an editable service was deleted: %v", op)
		}
	}
	t.Logf("edit: %d ops", len(ops))
	checkDump(t, n, tab2)
	checkWithIpvsadm(t, h, tab2)

	if err := n.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	checkDump(t, n, nil)
	if out := h.Run("/sbin/ipvsadm", "-Sn"); strings.TrimSpace(out) != "" {
		t.Errorf("after Flush ipvsadm -Sn shows:\n%s", out)
	}
}

// TestGuestRandomTables: random tables written by lvskit read back by
// ipvsadm, and written by ipvsadm read back by lvskit; Sync from one
// random table to the next leaves exactly the next.
func TestGuestRandomTables(t *testing.T) {
	h, n := guestTable(t)
	ctx := context.Background()
	pe := peAvailable(t, n)
	r := newRand(7)
	for i := range 12 {
		tab := randomTable(r)
		if !pe {
			for j := range tab {
				tab[j].PEName = ""
			}
		}
		if i%2 == 0 {
			if _, err := Sync(ctx, n, tab); err != nil {
				t.Fatalf("table %d: Sync: %v\n%s", i, err, describe(tab))
			}
			checkWithIpvsadm(t, h, tab)
			checkDump(t, n, tab)
			continue
		}
		// ipvsadm gives DR and TUN servers the service's port, which may
		// make two servers one; the kernel keeps the first.
		for j := range tab {
			seen := map[DestinationKey]bool{}
			var ds []Destination
			for _, d := range tab[j].Destinations {
				if d.Forward != Masquerade {
					d.Port = tab[j].Port
				}
				if k := tab[j].destKey(&d); !seen[k] {
					seen[k] = true
					ds = append(ds, d)
				}
			}
			tab[j].Destinations = ds
		}
		h.Run("/sbin/ipvsadm", "-C")
		cmd := h.Command(ctx, "/sbin/ipvsadm", "-R")
		cmd.Stdin = strings.NewReader(restoreRules(tab))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("table %d: ipvsadm -R: %v\n%s\nrules:\n%s", i, err, out, restoreRules(tab))
		}
		checkDump(t, n, tab)
		if ops := mustDiff(t, n, tab); len(ops) != 0 {
			t.Errorf("table %d: Diff after ipvsadm -R is %v, want none", i, ops)
		}
	}
}

func mustDiff(t *testing.T, n *Netlink, want []Service) []Op {
	t.Helper()
	have, err := n.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return Diff(have, want)
}

// TestGuestErrors: kernel refusals come back as the sentinels.
func TestGuestErrors(t *testing.T) {
	h, n := guestTable(t)
	ctx := context.Background()
	s := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Scheduler: "rr"}
	d := Destination{Addr: netip.MustParseAddr("10.0.0.2"), Weight: 1, Forward: DirectRoute}
	if err := n.Apply(ctx, []Op{{Kind: AddService, Service: s}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ops  []Op
		want error
	}{
		{"service exists", []Op{{Kind: AddService, Service: s}}, ErrExists},
		{"update absent service", []Op{{Kind: UpdateService, Service: Service{Protocol: TCP, Addr: s.Addr, Port: 81}}}, ErrNotFound},
		{"delete absent service", []Op{{Kind: DeleteService, Service: Service{Protocol: UDP, Addr: s.Addr, Port: 80}}}, ErrNotFound},
		{"unknown scheduler", []Op{{Kind: AddService, Service: Service{Protocol: TCP, Addr: s.Addr, Port: 82, Scheduler: "nosuch"}}}, ErrNotSupported},
		{"unknown pe", []Op{{Kind: AddService, Service: Service{Protocol: UDP, Addr: s.Addr, Port: 82, PersistenceTimeout: time.Minute, PEName: "nosuch"}}}, ErrNotSupported},
		{"dest of absent service", []Op{{Kind: AddDestination, Service: Service{Protocol: TCP, Addr: s.Addr, Port: 83}, Destination: d}}, ErrNotFound},
		{"update absent dest", []Op{{Kind: UpdateDestination, Service: s, Destination: d}}, ErrNotFound},
		{"delete absent dest", []Op{{Kind: DeleteDestination, Service: s, Destination: d}}, ErrNotFound},
		{"dest exists", []Op{{Kind: AddDestination, Service: s, Destination: d}, {Kind: AddDestination, Service: s, Destination: d}}, ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := n.Apply(ctx, tt.ops)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			var ae *ApplyError
			if !errors.As(err, &ae) || ae.Index != len(tt.ops)-1 {
				t.Errorf("error %v does not name op %d", err, len(tt.ops)-1)
			}
			t.Logf("%v", err)
		})
	}
	// A batch with a failure in the middle stops after its batch.
	strict, err := OpenNetlink(NetlinkConfig{Netns: h.NsHandle(), BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	s2 := Service{Protocol: TCP, Addr: s.Addr, Port: 90}
	err = strict.Apply(ctx, []Op{{Kind: AddService, Service: s}, {Kind: AddService, Service: s2}})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("strict Apply = %v, want ErrExists", err)
	}
	s.Destinations = []Destination{d}
	if ops := mustDiff(t, n, []Service{s}); len(ops) != 0 {
		t.Errorf("strict Apply went on after the failure: %v", ops)
	}

	// Malformed input is refused before anything is written.
	w := n.Writes()
	bad := []Op{
		{Kind: AddService, Service: Service{Protocol: TCP, Addr: s.Addr, Port: 91}},
		{Kind: AddDestination, Service: Service{Protocol: TCP, Addr: s.Addr, Port: 91}, Destination: Destination{Addr: d.Addr, Weight: -5}},
	}
	if err := n.Apply(ctx, bad); !errors.Is(err, ErrInvalid) || n.Writes() != w {
		t.Errorf("invalid Apply = %v with %d writes, want ErrInvalid and none", err, n.Writes()-w)
	}
	if ops := mustDiff(t, n, []Service{s}); len(ops) != 0 {
		t.Errorf("invalid Apply changed the table: %v", ops)
	}

	// Close is idempotent and a closed backend refuses work.
	extra, err := OpenNetlink(NetlinkConfig{Netns: h.NsHandle()})
	if err != nil {
		t.Fatal(err)
	}
	if err := extra.Close(); err != nil {
		t.Fatal(err)
	}
	if err := extra.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := extra.Dump(ctx); err == nil {
		t.Errorf("Dump after Close succeeded")
	}

	// Open picks the kernel here.
	b, choice, err := Open(ctx, OpenConfig{Netlink: NetlinkConfig{Netns: h.NsHandle()}})
	if err != nil {
		t.Fatalf("Open(auto) in the VM: %v", err)
	}
	if _, ok := b.(*Netlink); !ok || choice.Kind != KindNetlink {
		t.Errorf("Open(auto) in the VM = %T, %+v; want *Netlink", b, choice)
	}
	b.Close()

	// Info and timeouts, against ipvsadm.
	info, err := n.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head := strings.SplitN(h.Run("/sbin/ipvsadm", "-Ln"), "\n", 2)[0]
	if want := fmt.Sprintf("IP Virtual Server version %s (size=%d)", info.Version, info.ConnTableSize); head != want {
		t.Errorf("ipvsadm says %q, Info says %q", head, want)
	}
	if err := n.SetTimeouts(ctx, Timeouts{TCP: 901 * time.Second, TCPFin: 121 * time.Second, UDP: 301 * time.Second}); err != nil {
		t.Fatal(err)
	}
	to, err := n.Timeouts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if to != (Timeouts{TCP: 901 * time.Second, TCPFin: 121 * time.Second, UDP: 301 * time.Second}) {
		t.Errorf("Timeouts = %+v", to)
	}
	if out := h.Run("/sbin/ipvsadm", "-Ln", "--timeout"); !strings.Contains(out, "901 121 301") {
		t.Errorf("ipvsadm --timeout: %q, want 901 121 301", out)
	}
	h.Run("/sbin/ipvsadm", "--set", "700", "100", "200")
	if to, _ := n.Timeouts(ctx); to != (Timeouts{TCP: 700 * time.Second, TCPFin: 100 * time.Second, UDP: 200 * time.Second}) {
		t.Errorf("after ipvsadm --set: Timeouts = %+v", to)
	}
}

// TestGuestSyncDaemon: master and backup daemons in two namespaces on one
// LAN, listed back by lvskit and by ipvsadm.
func TestGuestSyncDaemon(t *testing.T) {
	vmtest.RequireGuest(t)
	ctx := context.Background()
	lan := bridgeHost(t, "lan")
	a, b := newGHost(t, "lvs1"), newGHost(t, "lvs2")
	plug(t, lan, a, "eth0", "192.168.0.200/24")
	plug(t, lan, b, "eth0", "192.168.0.201/24")
	na, err := OpenNetlink(NetlinkConfig{Netns: a.NsHandle()})
	if err != nil {
		t.Fatal(err)
	}
	defer na.Close()
	nb, err := OpenNetlink(NetlinkConfig{Netns: b.NsHandle()})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()

	master := SyncDaemon{State: DaemonMaster, Interface: "eth0", SyncID: 51, MaxLen: 1400, McastGroup: netip.MustParseAddr("224.0.0.82"), McastPort: 8850, McastTTL: 2}
	backup := SyncDaemon{State: DaemonBackup, Interface: "eth0", SyncID: 51}
	if err := na.StartDaemon(ctx, master); err != nil {
		t.Fatalf("start master: %v", err)
	}
	if err := nb.StartDaemon(ctx, backup); err != nil {
		t.Fatalf("start backup: %v", err)
	}
	if err := na.StartDaemon(ctx, master); !errors.Is(err, ErrExists) {
		t.Errorf("second master start = %v, want ErrExists", err)
	}
	got, err := na.Daemons(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]SyncDaemon{master}, got, addrCmp); d != "" {
		t.Errorf("master Daemons (-want +got):\n%s", d)
	}
	got, err = nb.Daemons(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].State != DaemonBackup || got[0].Interface != "eth0" || got[0].SyncID != 51 ||
		got[0].McastGroup != netip.MustParseAddr("224.0.0.81") || got[0].McastPort != 8848 || got[0].McastTTL != 1 || got[0].MaxLen == 0 {
		t.Errorf("backup Daemons = %+v, want backup eth0 syncid 51 with the kernel defaults", got)
	}
	outA := a.Run("/sbin/ipvsadm", "-L", "--daemon")
	outB := b.Run("/sbin/ipvsadm", "-L", "--daemon")
	t.Logf("ipvsadm -L --daemon:\n%s%s", outA, outB)
	for _, want := range []string{"master sync daemon", "mcast=eth0", "syncid=51", "maxlen=1400", "group=224.0.0.82", "port=8850", "ttl=2"} {
		if !strings.Contains(outA, want) {
			t.Errorf("lvs1 ipvsadm --daemon lacks %q", want)
		}
	}
	for _, want := range []string{"backup sync daemon", "mcast=eth0", "syncid=51"} {
		if !strings.Contains(outB, want) {
			t.Errorf("lvs2 ipvsadm --daemon lacks %q", want)
		}
	}
	if err := na.StopDaemon(ctx, DaemonMaster); err != nil {
		t.Fatal(err)
	}
	if err := na.StopDaemon(ctx, DaemonMaster); !errors.Is(err, ErrNotFound) {
		t.Errorf("second stop = %v, want ErrNotFound", err)
	}
	if got, _ := na.Daemons(ctx); len(got) != 0 {
		t.Errorf("after stop: %v", got)
	}
	if out := a.Run("/sbin/ipvsadm", "-L", "--daemon"); strings.Contains(out, "master") {
		t.Errorf("ipvsadm still lists the master: %q", out)
	}
	if err := nb.StopDaemon(ctx, DaemonBackup); err != nil {
		t.Fatal(err)
	}
}

// benchEnv passes LVSKIT_BENCH_SERVICES (a smaller table, one round) on.
func benchEnv() []string {
	if v := os.Getenv("LVSKIT_BENCH_SERVICES"); v != "" {
		return []string{"LVSKIT_BENCH_SERVICES=" + v}
	}
	return nil
}
