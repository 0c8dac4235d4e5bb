package ipvs

// Namespace tests of the nftables backend (this kernel has nf_tables and
// no IPVS): the conformance the other backends pass, with `nft` reading
// the maps back as an independent observer, and the data plane between
// namespaces in NAT and DR.

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/lvskit/lvskit/internal/netnstest"
)

func newNFT(t *testing.T, h *netnstest.Host, cfg NFTablesConfig) *NFTables {
	t.Helper()
	cfg.Netns = h.NsHandle()
	n, err := OpenNFTables(cfg)
	if err != nil {
		t.Fatalf("OpenNFTables: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// nftFit rewrites a random table into what the nftables backend carries:
// fitCapabilities, and the NAT destinations of a firewall-mark service
// all keep the packet's port or all set one.
func nftFit(in []Service) []Service {
	out := fitCapabilities(NFTablesCapabilities(), in)
	for i := range out {
		s := &out[i]
		if s.FWMark != 0 && len(s.Destinations) > 0 && s.Destinations[0].Forward == Masquerade {
			var ds []Destination
			seen := map[DestinationKey]bool{}
			for _, d := range s.Destinations {
				d.Port = s.Destinations[0].Port
				if !seen[d.Key()] {
					seen[d.Key()] = true
					ds = append(ds, d)
				}
			}
			s.Destinations = ds
		}
	}
	return out
}

// nftMapElements counts the elements of one of lvskit's maps as `nft -j`
// lists them.
func nftMapElements(t *testing.T, h *netnstest.Host, family, set string) int {
	t.Helper()
	out := h.Run("nft", "-j", "list", "map", family, nftTableName, set)
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("nft -j: %v\n%s", err, out)
	}
	for _, o := range doc.Nftables {
		if m, ok := o["map"]; ok {
			var v struct {
				Elem []json.RawMessage `json:"elem"`
			}
			if err := json.Unmarshal(m, &v); err != nil {
				t.Fatal(err)
			}
			return len(v.Elem)
		}
	}
	t.Fatalf("nft -j list map %s %s: no map in\n%s", family, set, out)
	return 0
}

// TestIntegrationNFTablesMatchesMemory: random tables synced into the
// memory and nftables backends read back the same, Sync from one to the
// next edits in place and no more, a second Sync writes nothing, and nft
// lists as many destinations as the table has.
func TestIntegrationNFTablesMatchesMemory(t *testing.T) {
	lab := netnstest.New(t)
	h := lab.Host("dir")
	n := newNFT(t, h, NFTablesConfig{})
	m := NewMemory()
	ctx := context.Background()
	r := newRand(18)
	var services, dests int
	for step := range 30 {
		want := nftFit(randomTable(r))
		have, err := n.Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkMinimal(t, Diff(have, want))
		for _, be := range []Backend{m, n} {
			if _, err := Sync(ctx, be, want); err != nil {
				t.Fatalf("step %d: %T: %v\n%s", step, be, err, describe(want))
			}
		}
		nd, err := n.Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		md, _ := m.Dump(ctx)
		if d := cmp.Diff(Canonical(md), Canonical(nd), addrCmp); d != "" {
			t.Fatalf("step %d: tables differ (-memory +nftables):\n%s", step, d)
		}
		w := n.Writes()
		if ops, err := Sync(ctx, n, want); err != nil || len(ops) != 0 || n.Writes() != w {
			t.Fatalf("step %d: repeated Sync: %v, %v, %d transactions", step, ops, err, n.Writes()-w)
		}
		var v4, v6 int
		for _, s := range want {
			services++
			dests += len(s.Destinations)
			if s.Key().Family == Inet6 {
				v6 += len(s.Destinations)
			} else {
				v4 += len(s.Destinations)
			}
		}
		if st, _ := n.readState(false); st.base[Inet] {
			if got := nftMapElements(t, h, "ip", setDests); got != v4 {
				t.Errorf("step %d: nft lists %d IPv4 destinations, want %d", step, got, v4)
			}
		}
		if st, _ := n.readState(false); st.base[Inet6] {
			if got := nftMapElements(t, h, "ip6", setDests); got != v6 {
				t.Errorf("step %d: nft lists %d IPv6 destinations, want %d", step, got, v6)
			}
		}
	}
	t.Logf("%d services, %d destinations synced over 30 steps", services, dests)
	if services < 20 || dests < 20 {
		t.Errorf("random tables too thin to show anything: %d services, %d destinations", services, dests)
	}
	if err := n.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := n.Dump(ctx); err != nil || len(got) != 0 {
		t.Errorf("after Flush: %v, %v", got, err)
	}
}

// TestIntegrationNFTablesRefuses: what nftables cannot carry is
// ErrNotSupported, IPVS's own refusals are ErrExists / ErrNotFound /
// ErrInvalid, each naming its op, and a refused Apply changes nothing.
func TestIntegrationNFTablesRefuses(t *testing.T) {
	lab := netnstest.New(t)
	n := newNFT(t, lab.Host("dir"), NFTablesConfig{})
	ctx := context.Background()
	a := netip.MustParseAddr
	base := Service{Protocol: TCP, Addr: a("10.0.0.1"), Port: 80, Scheduler: "rr"}
	if err := n.Apply(ctx, []Op{{Kind: AddService, Service: base}}); err != nil {
		t.Fatal(err)
	}
	tcp := Service{Protocol: TCP, Addr: a("10.0.0.2"), Port: 80, Scheduler: "wrr"}
	with := func(f func(*Service)) Service { s := tcp; f(&s); return s }
	dest := func(f Forward, port uint16) Destination {
		return Destination{Addr: a("10.1.0.1"), Port: port, Weight: 1, Forward: f}
	}
	tests := []struct {
		name string
		ops  []Op
		want error
	}{
		{"lc", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Scheduler = "lc" })}}, ErrNotSupported},
		{"wlc default", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Scheduler = "" })}}, ErrNotSupported},
		{"one-packet", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Protocol = UDP; s.Flags = OnePacket })}}, ErrNotSupported},
		{"sip pe", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Protocol = UDP; s.PersistenceTimeout = time.Minute; s.PEName = "sip" })}}, ErrNotSupported},
		{"TUN", []Op{{Kind: AddService, Service: tcp}, {Kind: AddDestination, Service: tcp, Destination: Destination{Addr: a("10.1.0.1"), Weight: 1, Forward: Tunnel}}}, ErrNotSupported},
		{"thresholds", []Op{{Kind: AddService, Service: tcp}, {Kind: AddDestination, Service: tcp, Destination: Destination{Addr: a("10.1.0.1"), Weight: 1, UpperThreshold: 10}}}, ErrNotSupported},
		{"NAT and DR in one service", []Op{{Kind: AddService, Service: tcp},
			{Kind: AddDestination, Service: tcp, Destination: dest(Masquerade, 80)},
			{Kind: AddDestination, Service: tcp, Destination: Destination{Addr: a("10.1.0.2"), Weight: 1, Forward: DirectRoute}}}, ErrNotSupported},
		{"service exists", []Op{{Kind: AddService, Service: base}}, ErrExists},
		{"update absent service", []Op{{Kind: UpdateService, Service: tcp}}, ErrNotFound},
		{"dest of absent service", []Op{{Kind: AddDestination, Service: tcp, Destination: dest(Masquerade, 80)}}, ErrNotFound},
		{"dest twice", []Op{{Kind: AddDestination, Service: base, Destination: dest(Masquerade, 80)}, {Kind: AddDestination, Service: base, Destination: dest(Masquerade, 80)}}, ErrExists},
		{"delete absent dest", []Op{{Kind: DeleteDestination, Service: base, Destination: dest(Masquerade, 80)}}, ErrNotFound},
		{"invalid", []Op{{Kind: AddDestination, Service: base, Destination: Destination{Addr: a("10.1.0.1"), Weight: -1}}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := n.Writes()
			err := n.Apply(ctx, tt.ops)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			var ae *ApplyError
			if !errors.As(err, &ae) || ae.Index != len(tt.ops)-1 {
				t.Errorf("error %v does not name op %d", err, len(tt.ops)-1)
			}
			got, _ := n.Dump(ctx)
			if d := cmp.Diff(Canonical([]Service{base}), Canonical(got), addrCmp); d != "" || n.Writes() != w {
				t.Errorf("a refused Apply changed the table (%d transactions): %s", n.Writes()-w, d)
			}
		})
	}
	if caps, ok := CapabilitiesOf(KindNFTables); !ok || !cmp.Equal(caps, n.Capabilities()) {
		t.Errorf("CapabilitiesOf(nftables) = %+v, %v; the backend says %+v", caps, ok, n.Capabilities())
	}
}

// TestIntegrationNFTablesFailedApplyKeepsTable: a transaction the kernel
// refuses (a rule jumping to a chain that does not exist, added to the
// backend's own) leaves the previous table whole.
func TestIntegrationNFTablesFailedApplyKeepsTable(t *testing.T) {
	lab := netnstest.New(t)
	h := lab.Host("dir")
	a := netip.MustParseAddr
	tab := []Service{{Protocol: TCP, Addr: a("10.0.0.1"), Port: 80, Scheduler: "wrr", Destinations: []Destination{
		{Addr: a("10.1.0.1"), Port: 80, Weight: 3, Forward: Masquerade},
		{Addr: a("10.1.0.2"), Port: 80, Weight: 1, Forward: Masquerade}}}}
	good := newNFT(t, h, NFTablesConfig{})
	ctx := context.Background()
	if _, err := Sync(ctx, good, tab); err != nil {
		t.Fatal(err)
	}
	bad := newNFT(t, h, NFTablesConfig{inject: injectBrokenRule})
	want := Canonical(tab)
	tab[0].Destinations[1].Weight = 0
	tab = append(tab, Service{Protocol: UDP, Addr: a("10.0.0.1"), Port: 53, Scheduler: "sh"})
	_, err := Sync(ctx, bad, tab)
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.Index != 0 {
		t.Fatalf("Sync with a broken rule = %v, want an ApplyError naming op 0", err)
	}
	t.Logf("refused: %v", err)
	got, err := good.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, Canonical(got), addrCmp); d != "" {
		t.Errorf("table after a refused transaction (-before +after):\n%s", d)
	}
	if n := nftMapElements(t, h, "ip", setSvcNAT); n != 1 {
		t.Errorf("nft lists %d NAT services, want the 1 from before", n)
	}
}

// injectBrokenRule adds a rule the kernel refuses at commit: a jump to a
// chain that does not exist.
func injectBrokenRule(w nftWriter) {
	t := nftTable(nftFam4)
	w.AddRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Name: chainPreNAT, Table: t},
		Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: "no_such_chain"}}})
}

// TestIntegrationNFTablesSecondWriter: a backend plans from the table it
// last saw; when another writer committed since, the kernel refuses that
// plan (the ruleset's generation moved on) and the backend reads the
// table and plans again: an added service joins the other writer's, one
// the other writer added already is ErrExists, as if planned from the
// start.
func TestIntegrationNFTablesSecondWriter(t *testing.T) {
	lab := netnstest.New(t)
	h := lab.Host("dir")
	svc := func(port uint16) Service { return natService("wrr", port, 1) }
	ctx := context.Background()
	first, second := newNFT(t, h, NFTablesConfig{}), newNFT(t, h, NFTablesConfig{})
	if _, err := Sync(ctx, first, []Service{svc(80)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(ctx, second, []Service{svc(80), svc(81)}); err != nil {
		t.Fatal(err)
	}
	w := first.Writes()
	if err := first.Apply(ctx, Diff([]Service{svc(80)}, []Service{svc(80), svc(82)})); err != nil {
		t.Fatalf("add a service after another writer's commit: %v", err)
	}
	if n := first.Writes() - w; n != 1 {
		t.Errorf("%d transactions committed, want 1", n)
	}
	got, err := second.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Canonical([]Service{svc(80), svc(81), svc(82)})
	if d := cmp.Diff(want, Canonical(got), addrCmp); d != "" {
		t.Errorf("table after both writers (-want +got):\n%s", d)
	}
	if err := second.Apply(ctx, Diff([]Service{svc(80)}, []Service{svc(80), svc(82)})); !errors.Is(err, ErrExists) {
		t.Errorf("adding the service the other writer added: %v, want ErrExists", err)
	}
}

// TestIntegrationNFTablesApplyAfterApply: a second Apply with no Dump in
// between plans from what the first committed: the family's table and
// base chains are written once, not again.
func TestIntegrationNFTablesApplyAfterApply(t *testing.T) {
	lab := netnstest.New(t)
	h := lab.Host("dir")
	svc := func(port uint16) Service { return natService("rr", port, 1) }
	ctx := context.Background()
	n := newNFT(t, h, NFTablesConfig{})
	if err := n.Apply(ctx, Diff(nil, []Service{svc(80)})); err != nil {
		t.Fatal(err)
	}
	rules := func() map[string]int {
		t.Helper()
		out := map[string]int{}
		tab := nftTable(nftFam4)
		// (google/nftables cannot decode the counting chains' rules: it
		// reads ct's direction as a u32, the kernel writes a u8.)
		for _, c := range []string{chainPreNAT, chainOutNAT, chainPreDR, chainOutDR} {
			rs, err := n.conn.GetRules(tab, &nftables.Chain{Name: c, Table: tab})
			if err != nil {
				t.Fatal(err)
			}
			out[c] = len(rs)
		}
		return out
	}
	once := rules()
	if err := n.Apply(ctx, Diff([]Service{svc(80)}, []Service{svc(80), svc(81)})); err != nil {
		t.Fatal(err)
	}
	if twice := rules(); !maps.Equal(once, twice) {
		t.Errorf("base chains' rules after one Apply %v, after two %v", once, twice)
	}
	got, err := n.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Canonical([]Service{svc(80), svc(81)}), Canonical(got), addrCmp); d != "" {
		t.Errorf("table (-want +got):\n%s", d)
	}
}

// TestIntegrationNFTablesAddsCounting: a table an older lvskit wrote,
// without the NAT counting sets and chains, dumps (without NAT packet
// counters) and gains them, with an element pair for every NAT
// destination, at the next Apply.
func TestIntegrationNFTablesAddsCounting(t *testing.T) {
	lab := netnstest.New(t)
	h := lab.Host("dir")
	svc := func(port uint16) Service { return natService("rr", port, 2) }
	ctx := context.Background()
	n := newNFT(t, h, NFTablesConfig{})
	if _, err := Sync(ctx, n, []Service{svc(80), svc(81)}); err != nil {
		t.Fatal(err)
	}
	// What the table looked like before the counting.
	tab := nftTable(nftFam4)
	w := n.batch(0)
	for _, c := range []string{chainCountFwd, chainCountIn, chainCountOut} {
		ch := &nftables.Chain{Name: c, Table: tab}
		w.FlushChain(ch)
		w.DelChain(ch)
	}
	w.DelSet(setRef(nftFam4, setNATIn))
	w.DelSet(setRef(nftFam4, setNATOut))
	if err := n.commit(w); err != nil {
		t.Fatal(err)
	}
	n.cache = nil
	if _, err := n.Dump(ctx); err != nil {
		t.Fatalf("dump a table without the counting sets: %v", err)
	}
	// svc 80 goes, 82 comes, 81 stays: every destination left is counted.
	if _, err := Sync(ctx, n, []Service{svc(81), svc(82)}); err != nil {
		t.Fatalf("sync into a table without the counting sets: %v", err)
	}
	for _, set := range []string{setNATIn, setNATOut} {
		els, err := n.conn.GetSetElements(setRef(nftFam4, set))
		if err != nil {
			t.Fatal(err)
		}
		if len(els) != 4 {
			t.Errorf("%s has %d elements, want 4 (two services of two destinations)", set, len(els))
		}
	}
	if st, err := n.readState(false); err != nil || !st.counting[Inet] {
		t.Errorf("after the sync: counting %v, %v", st.counting, err)
	}
}

// natService is TCP 10.0.0.1:port in NAT to n real servers 10.1.0.1...
// on the same port, weight 1.
func natService(sched string, port uint16, n int) Service {
	s := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: port, Scheduler: sched}
	for i := range n {
		s.Destinations = append(s.Destinations, Destination{Addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}), Port: port, Weight: 1, Forward: Masquerade})
	}
	return s
}
