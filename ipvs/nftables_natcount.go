package ipvs

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// NAT's packet and byte counters. The nat chain sees a connection's first
// packet only, and conntrack forgets a connection's counters when it ends,
// so neither gives the cumulative counters IPVS keeps. Three filter
// chains (count_forward, count_input, count_output, at the filter
// priority, so after the nat hooks' DNAT) count every packet of a
// connection lvskit DNATed into one of two sets with a counter per
// element, nat_in (the client's packets, conntrack's original direction)
// and nat_out (the real server's answers). Both are keyed by
//
//	protocol . service address . service port . real server . its port
//
// the first three from conntrack's original tuple (what the client asked
// for), the last two from the packet: after DNAT an original packet is
// addressed to the real server, and an answer still comes from it (the
// answer's source is restored only at the srcnat hooks, after these
// chains). Forward counts a remote client's connections both ways;
// output a local client's packets, input the answers to them. The
// elements belong to the destination, as long as it is in the service:
// its counters survive the connections' end, as IPVS's do.
//
// Services whose destinations keep the packet's port (firewall-mark and
// port-zero services) are not counted: conntrack's original tuple does
// not name the service (the mark is not in it, the port is the client's
// choice), so no key can be written ahead for them.

const (
	setNATIn  = "nat_in"
	setNATOut = "nat_out"

	chainCountFwd = "count_forward"
	chainCountIn  = "count_input"
	chainCountOut = "count_output"
)

// ctDirOriginal and ctDirReply are conntrack's directions (IP_CT_DIR_*).
const (
	ctDirOriginal = 0
	ctDirReply    = 1
)

func natCountKeyType(f nftFam) nftables.SetDatatype {
	return mustConcat(nftables.TypeInetProto, f.addrType, nftables.TypeInetService, f.addrType, nftables.TypeInetService)
}

// natCountSets are nat_in and nat_out.
func natCountSets(f nftFam) []*nftables.Set {
	t := nftTable(f)
	return []*nftables.Set{
		{Table: t, Name: setNATIn, KeyType: natCountKeyType(f), Concatenation: true, Counter: true},
		{Table: t, Name: setNATOut, KeyType: natCountKeyType(f), Concatenation: true, Counter: true},
	}
}

// writeNATCount writes the counting chains and their rules (the sets are
// written with the shared ones).
func writeNATCount(w nftWriter, f nftFam) {
	t := nftTable(f)
	accept := nftables.ChainPolicyAccept
	for _, c := range []struct {
		name string
		hook *nftables.ChainHook
		dirs []uint8
	}{
		{chainCountFwd, nftables.ChainHookForward, []uint8{ctDirOriginal, ctDirReply}},
		{chainCountIn, nftables.ChainHookInput, []uint8{ctDirReply}},
		{chainCountOut, nftables.ChainHookOutput, []uint8{ctDirOriginal}},
	} {
		ch := &nftables.Chain{Name: c.name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: c.hook,
			Priority: nftables.ChainPriorityFilter, Policy: &accept}
		w.AddChain(ch)
		for _, dir := range c.dirs {
			w.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: natCountRule(f, dir)})
		}
	}
}

// natCountRule counts a packet of direction dir into nat_in or nat_out
// (a lookup in a set updates the matching element's counter).
func natCountRule(f nftFam, dir uint8) []expr.Any {
	a := regs(f.addrLen)
	vip := uint32(r0) + 1
	vport, rs, rsport := vip+a, vip+a+1, vip+2*a+1
	e := []expr.Any{
		&expr.Ct{Register: r0, Key: expr.CtKeyDIRECTION},
		&expr.Cmp{Op: expr.CmpOpEq, Register: r0, Data: []byte{dir}},
		loadL4Proto(r0),
		&expr.Ct{Register: vip, Key: expr.CtKeyDST, Direction: ctDirOriginal},
		&expr.Ct{Register: vport, Key: expr.CtKeyPROTODST, Direction: ctDirOriginal},
	}
	set := setNATIn
	if dir == ctDirOriginal {
		e = append(e, loadNet(rs, f.daddrOff, f.addrLen), loadTH(rsport, 2, 2))
	} else {
		set = setNATOut
		e = append(e, loadNet(rs, f.saddrOff, f.addrLen), loadTH(rsport, 0, 2))
	}
	return append(e, lookup(set, r0, 0))
}

// natCounted says whether s's destinations have NAT counters.
func natCounted(s *nftSvc) bool {
	return !s.dr() && s.FWMark == 0 && s.Port != 0 && len(s.Destinations) > 0
}

// natCountKey is the nat_in and nat_out key of s's destination i.
func natCountKey(s *nftSvc, i int) []byte {
	d := s.destKey(&s.Destinations[i])
	k := padProto(s.Protocol)
	k = append(k, addrBytes(s.Addr)...)
	k = append(k, padPort(s.Port)...)
	k = append(k, addrBytes(d.Addr)...)
	return append(k, padPort(d.Port)...)
}

// natCountKeys are the elements of s's destinations idx: none for a
// service without NAT counters.
func natCountKeys(s *nftSvc, idx []int) []nftables.SetElement {
	if !natCounted(s) {
		return nil
	}
	out := make([]nftables.SetElement, 0, len(idx))
	for _, i := range idx {
		out = append(out, nftables.SetElement{Key: natCountKey(s, i)})
	}
	return out
}

func addNATCount(w nftWriter, f nftFam, s *nftSvc, idx []int) error {
	k := natCountKeys(s, idx)
	return firstErr(w.AddElements(setRef(f, setNATIn), k), w.AddElements(setRef(f, setNATOut), k))
}

func delNATCount(w nftWriter, f nftFam, s *nftSvc, idx []int) error {
	k := natCountKeys(s, idx)
	return firstErr(w.DelElements(setRef(f, setNATIn), k), w.DelElements(setRef(f, setNATOut), k))
}

// natCounter is one element's counter.
type natCounter struct{ packets, bytes uint64 }

// natCounters reads nat_in or nat_out, by key.
func (n *NFTables) natCounters(f nftFam, set string) (map[string]natCounter, error) {
	els, err := n.elements(f, set)
	if err != nil {
		return nil, err
	}
	out := make(map[string]natCounter, len(els))
	for _, e := range els {
		if e.Counter != nil {
			out[string(e.Key)] = natCounter{e.Counter.Packets, e.Counter.Bytes}
		}
	}
	return out, nil
}

// fillNATCounters sets the packet and byte counters of the NAT
// destinations of the services in bySID from nat_in and nat_out.
func (n *NFTables) fillNATCounters(f nftFam, bySID map[uint32]*nftSvc) error {
	in, err := n.natCounters(f, setNATIn)
	if err != nil {
		return err
	}
	out, err := n.natCounters(f, setNATOut)
	if err != nil {
		return err
	}
	for _, s := range bySID {
		if !natCounted(s) {
			continue
		}
		for i := range s.Destinations {
			key := natCountKey(s, i)
			st := &s.Destinations[i].Stats
			st.PacketsIn, st.BytesIn = in[string(key)].packets, in[string(key)].bytes
			st.PacketsOut, st.BytesOut = out[string(key)].packets, out[string(key)].bytes
		}
	}
	return nil
}
