package ipvs

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/ipvs/sched"
)

// The nftables backend's rules, built as data: what goes into the kernel
// for a table of services, without a kernel. nftWriter receives it; the
// backend's writer queues netlink messages, the tests' records them.
//
// Per address family, one table "lvskit_ipvs" (ip or ip6) holds:
//
//   - base chains: prerouting_dr and output_dr (filter, priority raw)
//     for DR services, prerouting_nat and output_nat (nat, priority
//     dstnat) for NAT services; output_dr leaves alone packets to the
//     host's own addresses. Each dispatches through verdict maps,
//     firewall marks first, then protocol . address . port, then
//     protocol . address (port-zero services), as IPVS looks services up;
//   - one regular chain per service, svc_<sid>, which schedules;
//   - shared maps: dests (sid . did -> address . port, with a counter per
//     element), dinfo (sid . did, comments), conns (sid . did, DR's
//     new-flow counters, for DR services only), flows (DR's connection
//     table, with timeouts), closing (the DR flows that saw a FIN or RST)
//     and persist (persistence templates, with timeouts);
//   - one map per scheduling service, sch_<sid>: slot -> did.

const (
	nftTableName = "lvskit_ipvs"

	chainPreDR  = "prerouting_dr"
	chainOutDR  = "output_dr"
	chainPreNAT = "prerouting_nat"
	chainOutNAT = "output_nat"

	setSvcDR   = "svc_dr"
	setSvcNAT  = "svc_nat"
	setAnyDR   = "any_dr"
	setAnyNAT  = "any_nat"
	setFwmDR   = "fwm_dr"
	setFwmNAT  = "fwm_nat"
	setDests   = "dests"
	setDInfo   = "dinfo"
	setConns   = "conns"
	setFlows   = "flows"
	setClosing = "closing"
	setPersist = "persist"
)

// Hash table sizes and the fixed seed of the hashes the kernel computes
// over packets: every director with the same real servers, and so the same
// tables, picks the same server for a packet.
const (
	nftHashBuckets = 256        // sh and dh, as the kernel's IPVS
	nftMaglevSize  = 65537      // mh: the Maglev paper's table size
	nftHashSeed    = 0x4c56534b // "LVSK": jhash seed of sh, dh and mh
)

// 32-bit registers. R0 holds the service id, R1 the destination id, R2 on
// the destination's address (then its port) or a persistence key; the
// flow key starts at R7.
const (
	r0 = unix.NFT_REG32_00 + iota
	r1
	r2
	r3
	r4
	r5
	r6
	r7
)

// nftFam describes an address family's table.
type nftFam struct {
	fam      Family
	tfam     nftables.TableFamily
	addrLen  uint32
	saddrOff uint32
	daddrOff uint32
	addrType nftables.SetDatatype
}

var (
	nftFam4 = nftFam{fam: Inet, tfam: nftables.TableFamilyIPv4, addrLen: 4, saddrOff: 12, daddrOff: 16, addrType: nftables.TypeIPAddr}
	nftFam6 = nftFam{fam: Inet6, tfam: nftables.TableFamilyIPv6, addrLen: 16, saddrOff: 8, daddrOff: 24, addrType: nftables.TypeIP6Addr}
)

func famOf(f Family) nftFam {
	if f == Inet6 {
		return nftFam6
	}
	return nftFam4
}

// regs returns how many 32-bit registers n bytes take.
func regs(n uint32) uint32 { return (n + 3) / 4 }

// portReg is where a destination's port lands after the dests lookup.
func (f nftFam) portReg() uint32 { return r2 + regs(f.addrLen) }

// nftTimeouts are the flow table's timeouts in DR (IPVS's defaults).
type nftTimeouts struct {
	TCP, TCPFin, UDP time.Duration
}

var defaultNFTTimeouts = nftTimeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// nftWriter receives the objects of a transaction.
type nftWriter interface {
	AddTable(t *nftables.Table)
	AddChain(c *nftables.Chain)
	FlushChain(c *nftables.Chain)
	DelChain(c *nftables.Chain)
	AddRule(r *nftables.Rule)
	AddSet(s *nftables.Set, elems []nftables.SetElement) error
	DelSet(s *nftables.Set)
	FlushSet(s *nftables.Set)
	AddElements(s *nftables.Set, elems []nftables.SetElement) error
	DelElements(s *nftables.Set, elems []nftables.SetElement) error
}

func nftTable(f nftFam) *nftables.Table {
	return &nftables.Table{Name: nftTableName, Family: f.tfam}
}

func mustConcat(types ...nftables.SetDatatype) nftables.SetDatatype {
	t, err := nftables.ConcatSetType(types...)
	if err != nil {
		panic(err) // the types above are fixed: a bug, not input
	}
	return t
}

// sharedSets are the maps every service of a family uses.
func sharedSets(f nftFam, maxFlows uint32) []*nftables.Set {
	t := nftTable(f)
	ids := mustConcat(nftables.TypeMark, nftables.TypeMark)
	vmap := func(name string, key nftables.SetDatatype) *nftables.Set {
		return &nftables.Set{Table: t, Name: name, IsMap: true, KeyType: key, DataType: nftables.TypeVerdict,
			Concatenation: len(nftables.ConcatSetTypeElements(key)) > 1}
	}
	svcKey := mustConcat(nftables.TypeInetProto, f.addrType, nftables.TypeInetService)
	anyKey := mustConcat(nftables.TypeInetProto, f.addrType)
	flowKey := mustConcat(nftables.TypeMark, nftables.TypeInetProto, f.addrType, nftables.TypeInetService, nftables.TypeInetService)
	persistKey := mustConcat(nftables.TypeMark, f.addrType)
	return []*nftables.Set{
		vmap(setSvcDR, svcKey), vmap(setSvcNAT, svcKey),
		vmap(setAnyDR, anyKey), vmap(setAnyNAT, anyKey),
		{Table: t, Name: setFwmDR, IsMap: true, KeyType: nftables.TypeMark, DataType: nftables.TypeVerdict},
		{Table: t, Name: setFwmNAT, IsMap: true, KeyType: nftables.TypeMark, DataType: nftables.TypeVerdict},
		{Table: t, Name: setDests, IsMap: true, KeyType: ids, Concatenation: true,
			DataType: mustConcat(f.addrType, nftables.TypeInetService), Counter: true},
		{Table: t, Name: setDInfo, KeyType: ids, Concatenation: true},
		{Table: t, Name: setConns, KeyType: ids, Concatenation: true, Counter: true},
		{Table: t, Name: setFlows, IsMap: true, KeyType: flowKey, Concatenation: true, DataType: nftables.TypeMark,
			HasTimeout: true, Dynamic: true, Size: maxFlows},
		{Table: t, Name: setClosing, KeyType: flowKey, Concatenation: true, HasTimeout: true, Dynamic: true, Size: maxFlows},
		{Table: t, Name: setPersist, IsMap: true, KeyType: persistKey, Concatenation: true, DataType: nftables.TypeMark,
			HasTimeout: true, Dynamic: true, Size: maxFlows},
	}
}

func setRef(f nftFam, name string) *nftables.Set {
	return &nftables.Set{Table: nftTable(f), Name: name}
}

// writeBase creates a family's table, shared maps and chains.
func writeBase(w nftWriter, f nftFam, maxFlows uint32, to nftTimeouts) error {
	t := nftTable(f)
	w.AddTable(t)
	for _, s := range append(sharedSets(f, maxFlows), natCountSets(f)...) {
		if err := w.AddSet(s, nil); err != nil {
			return err
		}
	}
	writeNATCount(w, f)
	accept := nftables.ChainPolicyAccept
	base := []struct {
		name          string
		typ           nftables.ChainType
		hook          *nftables.ChainHook
		prio          *nftables.ChainPriority
		fwm, svc, any string
		local         bool // let packets to local addresses through
	}{
		{chainPreDR, nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw, setFwmDR, setSvcDR, setAnyDR, false},
		{chainOutDR, nftables.ChainTypeFilter, nftables.ChainHookOutput, nftables.ChainPriorityRaw, setFwmDR, setSvcDR, setAnyDR, true},
		{chainPreNAT, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, setFwmNAT, setSvcNAT, setAnyNAT, false},
		{chainOutNAT, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest, setFwmNAT, setSvcNAT, setAnyNAT, false},
	}
	for _, b := range base {
		c := &nftables.Chain{Name: b.name, Table: t, Type: b.typ, Hooknum: b.hook, Priority: b.prio, Policy: &accept}
		w.AddChain(c)
		if b.local {
			// The copies dup sends (from either hook) pass the output
			// hook too, untracked: they are on their way already.
			w.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: []expr.Any{
				&expr.Ct{Register: r0, Key: expr.CtKeySTATE},
				&expr.Bitwise{SourceRegister: r0, DestRegister: r0, Len: 4, Mask: nativeU32(ctStateUntracked), Xor: make([]byte, 4)},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: r0, Data: make([]byte, 4)},
				verdict(expr.VerdictAccept)}})
			// A local client's packet to an address of this host stays
			// here: a real server's answer from the VIP would come back
			// to a host that holds the VIP as a martian.
			w.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: []expr.Any{
				&expr.Fib{Register: r0, FlagDADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpEq, Register: r0, Data: nativeU32(unix.RTN_LOCAL)},
				verdict(expr.VerdictAccept)}})
		}
		if b.name == chainPreDR {
			// What a local client sent to a local VIP comes back in
			// through lo: it stays on this host, as output_dr decided.
			w.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: r0},
				&expr.Cmp{Op: expr.CmpOpEq, Register: r0, Data: binary.NativeEndian.AppendUint16(nil, unix.ARPHRD_LOOPBACK)},
				verdict(expr.VerdictAccept)}})
		}
		for _, e := range dispatchRules(f, b.fwm, b.svc, b.any) {
			w.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: e})
		}
	}
	return nil
}

func loadL4Proto(reg uint32) expr.Any {
	return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}
}

func loadNet(reg, off, n uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

func loadTH(reg, off, n uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: n}
}

func lookup(set string, src uint32, dst uint32) *expr.Lookup {
	l := &expr.Lookup{SourceRegister: src, SetName: set}
	if dst != 0 {
		l.DestRegister, l.IsDestRegSet = dst, true
	}
	return l
}

func vmapLookup(set string, src uint32) *expr.Lookup {
	return &expr.Lookup{SourceRegister: src, SetName: set, DestRegister: unix.NFT_REG_VERDICT, IsDestRegSet: true}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

// dispatchRules send a packet to its service's chain: by firewall mark,
// by protocol . address . port, by protocol . address.
func dispatchRules(f nftFam, fwm, svc, anyPort string) [][]expr.Any {
	return [][]expr.Any{
		{&expr.Meta{Key: expr.MetaKeyMARK, Register: r0}, vmapLookup(fwm, r0)},
		{loadL4Proto(r0), loadNet(r1, f.daddrOff, f.addrLen), loadTH(r1+regs(f.addrLen), 2, 2), vmapLookup(svc, r0)},
		{loadL4Proto(r0), loadNet(r1, f.daddrOff, f.addrLen), vmapLookup(anyPort, r0)},
	}
}

// flowKey loads sid . l4proto . saddr . sport . dport at R7; sid is in R0.
func flowKey(f nftFam, sid uint32) []expr.Any {
	a := regs(f.addrLen)
	return []expr.Any{
		&expr.Immediate{Register: r7, Data: be32(sid)},
		loadL4Proto(r7 + 1),
		loadNet(r7+2, f.saddrOff, f.addrLen),
		loadTH(r7+2+a, 0, 2),
		loadTH(r7+3+a, 2, 2),
	}
}

// nftSvc is one service as the backend keeps it: the model plus ids.
type nftSvc struct {
	Service
	sid  uint32
	dids []uint32 // parallel to Destinations
}

// mode says which path serves s: DR (raw prerouting) or NAT. A service
// without destinations is served by the NAT path, which drops its packets.
func (s *nftSvc) dr() bool {
	return len(s.Destinations) > 0 && s.Destinations[0].Forward == DirectRoute
}

func (s *nftSvc) chainName() string { return fmt.Sprintf("svc_%08x", s.sid) }
func (s *nftSvc) schedSet() string  { return fmt.Sprintf("sch_%08x", s.sid) }

// dispatch returns the map s is dispatched from and its element.
func (s *nftSvc) dispatch() (string, nftables.SetElement) {
	k := s.Key()
	attrs := nftServiceAttrs{sid: s.sid, sched: s.SchedulerName(), flags: s.Flags & userFlags,
		persist: s.PersistenceTimeout, bits: s.PersistenceMask()}
	el := nftables.SetElement{Comment: attrs.comment(),
		VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: s.chainName()}}
	var set string
	switch {
	case k.FWMark != 0:
		set = setFwmNAT
		el.Key = nativeU32(k.FWMark)
	case k.Port == 0:
		set = setAnyNAT
		el.Key = append(padProto(k.Protocol), addrBytes(k.Addr)...)
	default:
		set = setSvcNAT
		el.Key = append(append(padProto(k.Protocol), addrBytes(k.Addr)...), padPort(k.Port)...)
	}
	if s.dr() {
		set = map[string]string{setFwmNAT: setFwmDR, setAnyNAT: setAnyDR, setSvcNAT: setSvcDR}[set]
	}
	return set, el
}

var nativeEndian = binary.NativeEndian

// nativeU32 is a host-order 32-bit value, as meta mark and the hash and
// numgen expressions leave it in a register.
func nativeU32(v uint32) []byte {
	var b [4]byte
	nativeEndian.PutUint32(b[:], v)
	return b[:]
}

// slotTable is a service's scheduling map: what it is keyed by and its
// elements (slot -> did). Interval maps (rr, wrr) are keyed by the
// big-endian slot, exact ones (sh, dh, mh) by the host-order hash.
type slotTable struct {
	interval bool
	modulus  uint32
	elems    []nftables.SetElement
	fixed    uint32 // fo: the destination, no map
}

// schedTable computes s's scheduling table from its destinations with a
// non-zero weight: rr one slot each, wrr weight slots each (as ranges),
// sh weight consecutive buckets each of 256 (at least one; a weight-0
// server's buckets go to the next server, so sh-fallback is always on),
// dh 256 buckets in turn, mh lvskit's Maglev table of 65,537 slots over
// the servers sorted by address, fo the heaviest server (the first by
// address among equals). ok is false when no destination can take a
// connection.
func schedTable(s *nftSvc) (t slotTable, ok bool) {
	type dst struct {
		key    DestinationKey
		did    uint32
		weight int32
	}
	var live []dst
	for i := range s.Destinations {
		d := &s.Destinations[i]
		if d.Weight > 0 {
			live = append(live, dst{s.destKey(d), s.dids[i], d.Weight})
		}
	}
	if len(live) == 0 {
		return slotTable{}, false
	}
	// Sorted by address: every director with the same servers builds the
	// same table, whatever order they were added in.
	slices.SortFunc(live, func(a, b dst) int { return compareDestKey(a.key, b.key) })
	exact := func(n int, pick func(slot int) uint32) slotTable {
		t := slotTable{modulus: uint32(n)}
		for slot := range n {
			if did := pick(slot); did != 0 {
				t.elems = append(t.elems, nftables.SetElement{Key: nativeU32(uint32(slot)), Val: be32(did)})
			}
		}
		return t
	}
	switch s.SchedulerName() {
	case "rr", "wrr":
		t := slotTable{interval: true}
		var start uint32
		for _, d := range live {
			w := uint32(1)
			if s.SchedulerName() == "wrr" {
				w = uint32(d.weight)
			}
			if start > 0 {
				t.elems = append(t.elems, nftables.SetElement{Key: be32(start), IntervalEnd: true})
			}
			t.elems = append(t.elems, nftables.SetElement{Key: be32(start), Val: be32(d.did)})
			start += w
		}
		t.elems = append(t.elems, nftables.SetElement{Key: be32(start), IntervalEnd: true})
		t.modulus = start
		return t, true
	case "sh":
		var buckets []uint32
		for len(buckets) < nftHashBuckets {
			for _, d := range live {
				for range d.weight {
					buckets = append(buckets, d.did)
				}
			}
		}
		return exact(nftHashBuckets, func(i int) uint32 { return buckets[i] }), true
	case "dh":
		return exact(nftHashBuckets, func(i int) uint32 { return live[i%len(live)].did }), true
	case "mh":
		addrs := make([]netip.AddrPort, len(live))
		weights := make([]int, len(live))
		for i, d := range live {
			addrs[i], weights[i] = netip.AddrPortFrom(d.key.Addr, d.key.Port), int(d.weight)
		}
		tab, err := sched.MaglevTable(addrs, weights, nftMaglevSize)
		if err != nil {
			return slotTable{}, false
		}
		return exact(nftMaglevSize, func(i int) uint32 {
			if tab[i] < 0 {
				return 0
			}
			return live[tab[i]].did
		}), true
	case "fo":
		best := live[0]
		for _, d := range live[1:] {
			if d.weight > best.weight {
				best = d
			}
		}
		return slotTable{fixed: best.did}, true
	}
	return slotTable{}, false
}

// schedExprs leave the chosen did in R1 (using R2 on as scratch).
func schedExprs(f nftFam, s *nftSvc, t slotTable) []expr.Any {
	if t.fixed != 0 {
		return []expr.Any{&expr.Immediate{Register: r1, Data: be32(t.fixed)}}
	}
	if t.interval {
		return []expr.Any{
			&expr.Numgen{Register: r1, Modulus: t.modulus, Type: unix.NFT_NG_INCREMENTAL},
			&expr.Byteorder{SourceRegister: r1, DestRegister: r1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			lookup(s.schedSet(), r1, r1),
		}
	}
	a := regs(f.addrLen)
	var e []expr.Any
	n := f.addrLen
	if s.SchedulerName() == "dh" {
		e = append(e, loadNet(r2, f.daddrOff, f.addrLen))
	} else {
		e = append(e, loadNet(r2, f.saddrOff, f.addrLen))
		if s.Flags&SHPort != 0 {
			e = append(e, loadTH(r2+a, 0, 2))
			n = 4 * (a + 1)
		}
	}
	return append(e,
		&expr.Hash{SourceRegister: r2, DestRegister: r1, Length: n, Modulus: t.modulus, Seed: nftHashSeed, Type: expr.HashTypeJenkins},
		lookup(s.schedSet(), r1, r1))
}

// persistKey loads sid . (saddr & mask) at R2.
func persistKey(f nftFam, s *nftSvc) []expr.Any {
	e := []expr.Any{&expr.Immediate{Register: r2, Data: be32(s.sid)}, loadNet(r3, f.saddrOff, f.addrLen)}
	bits := s.PersistenceMask()
	if bits < int(f.addrLen*8) {
		m := make([]byte, f.addrLen)
		for i := range bits {
			m[i/8] |= 0x80 >> (i % 8)
		}
		e = append(e, &expr.Bitwise{SourceRegister: r3, DestRegister: r3, Len: f.addrLen, Mask: m, Xor: make([]byte, f.addrLen)})
	}
	return e
}

func setSID(s *nftSvc) expr.Any { return &expr.Immediate{Register: r0, Data: be32(s.sid)} }

// serviceRules are the rules of s's chain. The kernel refuses a rule
// that reads a register no earlier expression of the same rule wrote, so
// every rule loads what it uses.
//
// DR: a packet of a known flow goes to its server, refreshing the flow's
// timeout: a TCP FIN or RST marks the flow closing (the closing set), and
// a closing flow's packets refresh it to TCPFin only, so that the
// client's last ACKs do not make it live for TCP again (a SYN on a closing
// flow, a new connection on the same ports, forgets the old flow, to be
// scheduled anew, as IPVS's conn_reuse_mode 1 does); UDP
// flows take UDP, other flows TCP. A known flow whose server is gone is
// forgotten; a persistent client goes to its server; a
// new flow is scheduled and remembered; what is left is dropped. Every
// forwarded packet is duplicated to the real server's address (so to its
// MAC, the VIP untouched) and the original dropped.
//
// NAT (a nat chain: conntrack shows it the first packet of a connection
// only, and keeps the rest on the same server): a persistent client goes
// to its server, a new one is scheduled; both are DNATed.
func serviceRules(f nftFam, s *nftSvc, to nftTimeouts) [][]expr.Any {
	t, ok := schedTable(s)
	persistent := s.PersistenceTimeout > 0
	sid := setSID(s)
	var rules [][]expr.Any
	join := func(parts ...[]expr.Any) []expr.Any {
		var out []expr.Any
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	persistHit := []expr.Any{lookup(setPersist, r2, r1),
		&expr.Dynset{SrcRegKey: r2, SrcRegData: r1, SetName: setPersist, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: s.PersistenceTimeout}}
	// Deleting from a map takes a data register too (the kernel asks for
	// one), though only the key matters.
	persistStale := join(persistKey(f, s), []expr.Any{lookup(setPersist, r2, r1),
		&expr.Dynset{SrcRegKey: r2, SrcRegData: r1, SetName: setPersist, Operation: nftDynsetOpDelete}})
	persistAdd := join(persistKey(f, s), []expr.Any{
		&expr.Dynset{SrcRegKey: r2, SrcRegData: r1, SetName: setPersist, Operation: unix.NFT_DYNSET_OP_ADD, Timeout: s.PersistenceTimeout}})
	if s.dr() {
		fk := flowKey(f, s.sid)
		isProto := func(p Protocol) []expr.Any {
			return []expr.Any{loadL4Proto(r2), &expr.Cmp{Op: expr.CmpOpEq, Register: r2, Data: []byte{byte(p)}}}
		}
		finRst := join(isProto(TCP), []expr.Any{loadTH(r2, 13, 1),
			&expr.Bitwise{SourceRegister: r2, DestRegister: r2, Len: 1, Mask: []byte{0x05}, Xor: []byte{0}}, // FIN|RST
			&expr.Cmp{Op: expr.CmpOpNeq, Register: r2, Data: []byte{0}}})
		syn := join(isProto(TCP), []expr.Any{loadTH(r2, 13, 1),
			&expr.Bitwise{SourceRegister: r2, DestRegister: r2, Len: 1, Mask: []byte{0x17}, Xor: []byte{0}}, // FIN|SYN|RST|ACK
			&expr.Cmp{Op: expr.CmpOpEq, Register: r2, Data: []byte{0x02}}})
		known := func(cond []expr.Any, timeout time.Duration, also ...expr.Any) []expr.Any {
			return join(cond, fk, []expr.Any{lookup(setFlows, r7, r1), sid, lookup(setDests, r0, r2),
				&expr.Dynset{SrcRegKey: r7, SrcRegData: r1, SetName: setFlows, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: timeout}},
				also, []expr.Any{&expr.Dup{RegAddr: r2}, verdict(expr.VerdictDrop)})
		}
		closing := join(fk, []expr.Any{lookup(setClosing, r7, 0)})
		rules = append(rules,
			join(syn, closing, []expr.Any{&expr.Dynset{SrcRegKey: r7, SetName: setClosing, Operation: nftDynsetOpDelete},
				lookup(setFlows, r7, r1), &expr.Dynset{SrcRegKey: r7, SrcRegData: r1, SetName: setFlows, Operation: nftDynsetOpDelete}}),
			known(finRst, to.TCPFin, &expr.Dynset{SrcRegKey: r7, SetName: setClosing, Operation: unix.NFT_DYNSET_OP_ADD, Timeout: to.TCPFin}),
			known(closing, to.TCPFin), known(isProto(UDP), to.UDP), known(nil, to.TCP),
			join(fk, []expr.Any{lookup(setFlows, r7, r1), &expr.Dynset{SrcRegKey: r7, SrcRegData: r1, SetName: setFlows, Operation: nftDynsetOpDelete}}))
		forward := join([]expr.Any{sid, lookup(setDests, r0, r2), lookup(setConns, r0, 0)}, fk, []expr.Any{
			&expr.Dup{RegAddr: r2},
			&expr.Dynset{SrcRegKey: r7, SrcRegData: r1, SetName: setFlows, Operation: unix.NFT_DYNSET_OP_ADD, Timeout: to.TCP},
			verdict(expr.VerdictDrop)})
		if persistent {
			rules = append(rules, join(persistKey(f, s), persistHit, forward), persistStale)
		}
		if ok {
			if t.interval || t.fixed != 0 {
				// Round robin and failover start connections only: a TCP
				// segment of a flow this director does not know is not
				// scheduled (with a hash it is: any director finds the
				// same server).
				rules = append(rules, []expr.Any{
					loadL4Proto(r2), &expr.Cmp{Op: expr.CmpOpEq, Register: r2, Data: []byte{unix.IPPROTO_TCP}},
					loadTH(r2, 13, 1),
					&expr.Bitwise{SourceRegister: r2, DestRegister: r2, Len: 1, Mask: []byte{0x17}, Xor: []byte{0}}, // FIN|SYN|RST|ACK
					&expr.Cmp{Op: expr.CmpOpNeq, Register: r2, Data: []byte{0x02}},
					verdict(expr.VerdictDrop),
				})
			}
			r := schedExprs(f, s, t)
			if persistent {
				r = join(r, persistAdd)
			}
			rules = append(rules, join(r, forward))
		}
		return append(rules, []expr.Any{verdict(expr.VerdictDrop)})
	}
	dnat := natExpr(f, s)
	emit := []expr.Any{sid, lookup(setDests, r0, r2), dnat}
	if persistent {
		rules = append(rules, join(persistKey(f, s), persistHit, emit), persistStale)
	}
	if ok {
		r := schedExprs(f, s, t)
		if persistent {
			r = join(r, persistAdd)
		}
		rules = append(rules, join(r, emit))
	}
	return append(rules, []expr.Any{verdict(expr.VerdictDrop)})
}

// natExpr DNATs to the address looked up into R2 and the port after it;
// when s's destinations keep the packet's port (port 0 of a firewall-mark
// or port-zero service), to the address only.
func natExpr(f nftFam, s *nftSvc) expr.Any {
	nfproto := uint32(unix.NFPROTO_IPV4)
	if f.fam == Inet6 {
		nfproto = unix.NFPROTO_IPV6
	}
	if len(s.Destinations) > 0 && s.destKey(&s.Destinations[0]).Port == 0 {
		return &expr.NAT{Type: expr.NATTypeDestNAT, Family: nfproto, RegAddrMin: r2}
	}
	return &expr.NAT{Type: expr.NATTypeDestNAT, Family: nfproto, RegAddrMin: r2, RegProtoMin: f.portReg(), Specified: true}
}

// ctStateUntracked is NF_CT_STATE_UNTRACKED_BIT, the ct state of a packet
// conntrack is told to ignore, as dup's copies are.
const ctStateUntracked = 1 << 6

// nftDynsetOpDelete is NFT_DYNSET_OP_DELETE (Linux 5.18), which x/sys
// does not name yet.
const nftDynsetOpDelete = 2

// writeService writes s's chain and rules and its scheduling map. With
// fresh false the chain exists and is emptied first, and its old
// scheduling map (hadSched) is deleted; the dispatch and destination
// elements are the caller's.
func writeService(w nftWriter, f nftFam, s *nftSvc, fresh, hadSched bool, to nftTimeouts) error {
	t := nftTable(f)
	c := &nftables.Chain{Name: s.chainName(), Table: t}
	if fresh {
		w.AddChain(c)
	} else {
		w.FlushChain(c)
		if hadSched {
			w.DelSet(&nftables.Set{Table: t, Name: s.schedSet()})
		}
	}
	st, ok := schedTable(s)
	if ok && st.fixed == 0 {
		set := &nftables.Set{Table: t, Name: s.schedSet(), IsMap: true, KeyType: nftables.TypeMark,
			DataType: nftables.TypeMark, Interval: st.interval}
		if err := w.AddSet(set, st.elems); err != nil {
			return fmt.Errorf("scheduling map of %s: %w", s.Key(), err)
		}
	}
	for _, e := range serviceRules(f, s, to) {
		w.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: e})
	}
	return nil
}

// destElements are d's elements in dests and dinfo.
func destElements(s *nftSvc, i int) (dest, info nftables.SetElement) {
	d := &s.Destinations[i]
	k := s.destKey(d)
	key := idPair(s.sid, s.dids[i])
	return nftables.SetElement{Key: key, Val: addrPortData(k.Addr, k.Port)},
		nftables.SetElement{Key: key, Comment: destComment(d)}
}

// sortedServices orders services by key, for stable output.
func sortedServices(m map[ServiceKey]*nftSvc) []*nftSvc {
	out := make([]*nftSvc, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *nftSvc) int { return cmp.Compare(a.sid, b.sid) })
	return out
}
