package ipvs

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/google/nftables"
)

// nftState is lvskit's part of a namespace's nftables, as read back.
type nftState struct {
	svcs map[ServiceKey]*nftSvc
	base map[Family]bool // the family's table exists
	// The family's table has the NAT counting sets and chains: a table
	// an older lvskit wrote has not, until an Apply adds them.
	counting map[Family]bool
}

type idKey struct{ sid, did uint32 }

// services returns the state as the model, sorted by key.
func (st *nftState) services() []Service {
	out := make([]Service, 0, len(st.svcs))
	for _, s := range st.svcs {
		c := s.Service
		c.Destinations = slices.Clone(s.Destinations)
		for _, d := range c.Destinations {
			c.Stats.Connections += d.Stats.Connections
			c.Stats.PacketsIn += d.Stats.PacketsIn
			c.Stats.PacketsOut += d.Stats.PacketsOut
			c.Stats.BytesIn += d.Stats.BytesIn
			c.Stats.BytesOut += d.Stats.BytesOut
		}
		out = append(out, c)
	}
	sortServices(out)
	return out
}

// readState reads lvskit's tables; with counters it also reads the
// per-destination counters and the DR flow table.
func (n *NFTables) readState(counters bool) (*nftState, error) {
	st := &nftState{svcs: map[ServiceKey]*nftSvc{}, base: map[Family]bool{}, counting: map[Family]bool{}}
	for _, f := range []nftFam{nftFam4, nftFam6} {
		tabs, err := n.conn.ListTablesOfFamily(f.tfam)
		if err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if !slices.ContainsFunc(tabs, func(t *nftables.Table) bool { return t.Name == nftTableName }) {
			continue
		}
		st.base[f.fam] = true
		if _, err := n.conn.GetSetByName(nftTable(f), setNATIn); err == nil {
			st.counting[f.fam] = true
		}
		if err := n.readFamily(st, f, counters); err != nil {
			return nil, fmt.Errorf("table %s %s: %w", f.fam, nftTableName, err)
		}
	}
	return st, nil
}

func (n *NFTables) elements(f nftFam, set string) ([]nftables.SetElement, error) {
	el, err := n.conn.GetSetElements(setRef(f, set))
	if err != nil {
		return nil, fmt.Errorf("read map %s: %w", set, err)
	}
	return el, nil
}

func (n *NFTables) readFamily(st *nftState, f nftFam, counters bool) error {
	bySID := map[uint32]*nftSvc{}
	a := int(f.addrLen)
	for _, set := range []string{setSvcNAT, setSvcDR, setAnyNAT, setAnyDR, setFwmNAT, setFwmDR} {
		els, err := n.elements(f, set)
		if err != nil {
			return err
		}
		for _, e := range els {
			attrs, err := parseServiceComment(e.Comment)
			if err != nil {
				return fmt.Errorf("map %s: %w", set, err)
			}
			s := &nftSvc{sid: attrs.sid}
			s.Family = f.fam
			switch set {
			case setFwmNAT, setFwmDR:
				if len(e.Key) != 4 {
					return fmt.Errorf("map %s: key of %d bytes", set, len(e.Key))
				}
				s.FWMark = nativeEndian.Uint32(e.Key)
			default:
				if len(e.Key) < 4+a {
					return fmt.Errorf("map %s: key of %d bytes", set, len(e.Key))
				}
				s.Protocol = Protocol(e.Key[0])
				s.Addr, _ = netip.AddrFromSlice(e.Key[4 : 4+a])
				if set == setSvcNAT || set == setSvcDR {
					if len(e.Key) != 8+a {
						return fmt.Errorf("map %s: key of %d bytes", set, len(e.Key))
					}
					s.Port = uint16(e.Key[4+a])<<8 | uint16(e.Key[5+a])
				}
			}
			s.Scheduler, s.Flags, s.PersistenceTimeout, s.PersistenceBits = attrs.sched, attrs.flags, attrs.persist, attrs.bits
			bySID[s.sid] = s
			st.svcs[s.Key()] = s
		}
	}
	info, err := n.elements(f, setDInfo)
	if err != nil {
		return err
	}
	type dattr struct {
		w   int32
		fwd Forward
	}
	attrs := make(map[idKey]dattr, len(info))
	for _, e := range info {
		sid, did, ok := splitIDPair(e.Key)
		if !ok {
			return fmt.Errorf("map %s: key of %d bytes", setDInfo, len(e.Key))
		}
		w, fwd, err := parseDestComment(e.Comment)
		if err != nil {
			return fmt.Errorf("map %s: %w", setDInfo, err)
		}
		attrs[idKey{sid, did}] = dattr{w, fwd}
	}
	dests, err := n.elements(f, setDests)
	if err != nil {
		return err
	}
	var conns map[idKey]uint64
	var flows map[idKey][2]uint32
	if counters {
		if conns, err = n.connCounters(f); err != nil {
			return err
		}
		if flows, err = n.flowCounts(f); err != nil {
			return err
		}
	}
	for _, e := range dests {
		sid, did, ok := splitIDPair(e.Key)
		if !ok {
			return fmt.Errorf("map %s: key of %d bytes", setDests, len(e.Key))
		}
		s := bySID[sid]
		at, ok2 := attrs[idKey{sid, did}]
		addr, port, ok3 := parseAddrPortData(e.Val, f.fam)
		if s == nil || !ok2 || !ok3 {
			return fmt.Errorf("map %s: element %08x.%08x does not belong to a service", setDests, sid, did)
		}
		d := Destination{Addr: addr, Port: port, Weight: at.w, Forward: at.fwd}
		if counters && e.Counter != nil {
			if at.fwd == DirectRoute {
				d.Stats.PacketsIn, d.Stats.BytesIn = e.Counter.Packets, e.Counter.Bytes
				d.Stats.Connections = conns[idKey{sid, did}]
				c := flows[idKey{sid, did}]
				d.ActiveConns, d.InactiveConns = c[0], c[1]
			} else {
				d.Stats.Connections = e.Counter.Packets
			}
		}
		s.Destinations = append(s.Destinations, d)
		s.dids = append(s.dids, did)
	}
	if counters && st.counting[f.fam] {
		return n.fillNATCounters(f, bySID)
	}
	return nil
}

// connCounters reads the DR new-flow counters.
func (n *NFTables) connCounters(f nftFam) (map[idKey]uint64, error) {
	els, err := n.elements(f, setConns)
	if err != nil {
		return nil, err
	}
	out := make(map[idKey]uint64, len(els))
	for _, e := range els {
		if sid, did, ok := splitIDPair(e.Key); ok && e.Counter != nil {
			out[idKey{sid, did}] = e.Counter.Packets
		}
	}
	return out, nil
}

// flowCounts counts the DR flow table's entries per destination: TCP and
// SCTP flows are active until a FIN or RST (TCP) marked them closing, UDP
// flows are inactive (as IPVS counts them).
func (n *NFTables) flowCounts(f nftFam) (map[idKey][2]uint32, error) {
	els, err := n.elements(f, setFlows)
	if err != nil {
		return nil, err
	}
	cls, err := n.elements(f, setClosing)
	if err != nil {
		return nil, err
	}
	closing := make(map[string]bool, len(cls))
	for _, e := range cls {
		closing[string(e.Key)] = true
	}
	out := map[idKey][2]uint32{}
	for _, e := range els {
		if len(e.Key) < 8 || len(e.Val) != 4 {
			continue
		}
		k := idKey{be32Of(e.Key[:4]), be32Of(e.Val)}
		c := out[k]
		if Protocol(e.Key[4]) == UDP || closing[string(e.Key)] {
			c[1]++
		} else {
			c[0]++
		}
		out[k] = c
	}
	return out, nil
}

func be32Of(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// planNFT applies ops to a copy of cur, checking each as the kernel's IPVS
// would (ErrExists, ErrNotFound) and against what nftables can carry
// (ErrNotSupported). It returns the new state and which services changed.
func planNFT(cur *nftState, ops []Op) (*nftState, map[ServiceKey]bool, error) {
	next := &nftState{svcs: make(map[ServiceKey]*nftSvc, len(cur.svcs)), base: map[Family]bool{}, counting: map[Family]bool{}}
	maps.Copy(next.base, cur.base)
	maps.Copy(next.counting, cur.counting)
	sids := map[uint32]bool{}
	for k, s := range cur.svcs {
		c := *s
		c.Destinations = slices.Clone(s.Destinations)
		c.dids = slices.Clone(s.dids)
		next.svcs[k] = &c
		sids[s.sid] = true
	}
	changed := map[ServiceKey]bool{}
	last := map[ServiceKey]int{}
	caps := NFTablesCapabilities()
	for i := range ops {
		op := &ops[i]
		k := op.Service.Key()
		if err := planOp(next, sids, caps, op); err != nil {
			return nil, nil, &ApplyError{Index: i, Op: *op, Err: err}
		}
		changed[k] = true
		last[k] = i
	}
	for k := range changed {
		if s, ok := next.svcs[k]; ok {
			err := caps.Check(&s.Service)
			if err == nil && !s.dr() && len(s.Destinations) > 1 {
				keep := s.destKey(&s.Destinations[0]).Port == 0
				for j := range s.Destinations[1:] {
					if (s.destKey(&s.Destinations[j+1]).Port == 0) != keep {
						err = fmt.Errorf("service %s: NAT destinations that keep the port (0) next to ones that set it: %w", k, ErrNotSupported)
					}
				}
			}
			if err != nil {
				i := last[k]
				return nil, nil, &ApplyError{Index: i, Op: ops[i], Err: err}
			}
		}
	}
	// A family with a service has its table once the transaction is in
	// (writeChanges writes it for the first one): Apply keeps next as the
	// table it plans the following transaction from.
	for k := range next.svcs {
		next.base[k.Family] = true
		next.counting[k.Family] = true
	}
	return next, changed, nil
}

func planOp(st *nftState, sids map[uint32]bool, caps Capabilities, op *Op) error {
	k := op.Service.Key()
	s := st.svcs[k]
	switch op.Kind {
	case AddService, UpdateService:
		if s != nil && op.Kind == AddService {
			return fmt.Errorf("add service %s: %w", k, ErrExists)
		}
		if s == nil && op.Kind == UpdateService {
			return fmt.Errorf("update service %s: %w", k, ErrNotFound)
		}
		svc := serviceOnly(&op.Service)
		if r := caps.serviceRefusals(&svc); len(r) > 0 {
			return fmt.Errorf("%s %s: %w", op.Kind, k, r[0].Err)
		}
		svc.Family, svc.Addr = k.Family, k.Addr
		if svc.FWMark != 0 {
			svc.Protocol = 0
		}
		svc.Scheduler = svc.SchedulerName()
		svc.PersistenceBits = svc.PersistenceMask()
		svc.Flags &= userFlags
		if s == nil {
			sid := freeID(k.String(), func(id uint32) bool { return sids[id] })
			sids[sid] = true
			st.svcs[k] = &nftSvc{Service: svc, sid: sid}
			return nil
		}
		svc.Destinations = s.Destinations
		s.Service = svc
		return nil
	case DeleteService:
		if s == nil {
			return fmt.Errorf("delete service %s: %w", k, ErrNotFound)
		}
		delete(st.svcs, k)
		return nil
	}
	if s == nil {
		return fmt.Errorf("%s %s: service: %w", op.Kind, k, ErrNotFound)
	}
	d := normalDest(&s.Service, &op.Destination)
	dk := d.Key()
	j := slices.IndexFunc(s.Destinations, func(x Destination) bool { return x.Key() == dk })
	switch op.Kind {
	case AddDestination, UpdateDestination:
		if j >= 0 && op.Kind == AddDestination {
			return fmt.Errorf("add destination %s to %s: %w", dk, k, ErrExists)
		}
		if j < 0 && op.Kind == UpdateDestination {
			return fmt.Errorf("update destination %s of %s: %w", dk, k, ErrNotFound)
		}
		if err := caps.CheckDestination(&d); err != nil {
			return fmt.Errorf("%s %s: %w", op.Kind, k, err)
		}
		if j >= 0 {
			s.Destinations[j] = d
			return nil
		}
		did := freeID(dk.String(), func(id uint32) bool { return slices.Contains(s.dids, id) })
		s.Destinations = append(s.Destinations, d)
		s.dids = append(s.dids, did)
	case DeleteDestination:
		if j < 0 {
			return fmt.Errorf("delete destination %s of %s: %w", dk, k, ErrNotFound)
		}
		s.Destinations = slices.Delete(s.Destinations, j, j+1)
		s.dids = slices.Delete(s.dids, j, j+1)
	}
	return nil
}

// writeChanges queues what turns cur into next for the changed services,
// in phases (phasedWriter).
func writeChanges(w nftWriter, cur, next *nftState, changed map[ServiceKey]bool, maxFlows uint32, to nftTimeouts) error {
	p := &phasedWriter{}
	up := map[nftables.TableFamily]bool{}
	for _, fam := range []Family{Inet, Inet6} {
		if cur.base[fam] && !cur.counting[fam] {
			up[famOf(fam).tfam] = true
		}
	}
	if err := writeServices(&uncounted{nftWriter: p, fams: up}, cur, next, changed, maxFlows, to); err != nil {
		return err
	}
	if err := addCounting(p, cur, next); err != nil {
		return err
	}
	return p.replay(w)
}

// addCounting gives a table an older lvskit wrote, with services, the NAT
// counting sets and chains and the elements of every NAT destination
// (new counters). The services' own writes leave those sets alone
// (uncounted): they do not exist yet.
func addCounting(w nftWriter, cur, next *nftState) error {
	for _, fam := range []Family{Inet, Inet6} {
		if !cur.base[fam] || cur.counting[fam] || !next.counting[fam] {
			continue
		}
		f := famOf(fam)
		for _, s := range natCountSets(f) {
			if err := w.AddSet(s, nil); err != nil {
				return err
			}
		}
		writeNATCount(w, f)
		for _, s := range sortedServices(next.svcs) {
			if s.Family == fam {
				if err := addNATCount(w, f, s, allIdx(s)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// uncounted drops the element writes to the NAT counting sets of the
// families in fams.
type uncounted struct {
	nftWriter
	fams map[nftables.TableFamily]bool
}

func (u *uncounted) skip(s *nftables.Set) bool {
	return (s.Name == setNATIn || s.Name == setNATOut) && u.fams[s.Table.Family]
}

func (u *uncounted) AddElements(s *nftables.Set, e []nftables.SetElement) error {
	if u.skip(s) {
		return nil
	}
	return u.nftWriter.AddElements(s, e)
}

func (u *uncounted) DelElements(s *nftables.Set, e []nftables.SetElement) error {
	if u.skip(s) {
		return nil
	}
	return u.nftWriter.DelElements(s, e)
}

func writeServices(w nftWriter, cur, next *nftState, changed map[ServiceKey]bool, maxFlows uint32, to nftTimeouts) error {
	for _, fam := range []Family{Inet, Inet6} {
		if cur.base[fam] {
			continue
		}
		for k := range changed {
			if _, ok := next.svcs[k]; ok && k.Family == fam {
				if err := writeBase(w, famOf(fam), maxFlows, to); err != nil {
					return err
				}
				break
			}
		}
	}
	keys := make([]ServiceKey, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareServiceKey)
	for _, k := range keys {
		old, nw := cur.svcs[k], next.svcs[k]
		f := famOf(k.Family)
		var err error
		switch {
		case old != nil && nw == nil:
			err = deleteService(w, f, old)
		case old == nil && nw != nil:
			err = addService(w, f, nw, to)
		case old != nil && nw != nil:
			err = updateService(w, f, old, nw, to)
		}
		if err != nil {
			return fmt.Errorf("service %s: %w", k, err)
		}
	}
	return nil
}

func destSets(f nftFam) (dests, info *nftables.Set) {
	return setRef(f, setDests), setRef(f, setDInfo)
}

// addDests adds the elements of s's destinations idx: dests and dinfo,
// and their counter elements (addConns; NAT counts connections in dests).
func addDests(w nftWriter, f nftFam, s *nftSvc, idx []int) error {
	ds, is := destSets(f)
	var de, ie []nftables.SetElement
	for _, i := range idx {
		d, in := destElements(s, i)
		de, ie = append(de, d), append(ie, in)
	}
	return firstErr(w.AddElements(ds, de), w.AddElements(is, ie), addConns(w, f, s, idx))
}

func delDests(w nftWriter, f nftFam, s *nftSvc, idx []int) error {
	ds, is := destSets(f)
	var keys []nftables.SetElement
	for _, i := range idx {
		keys = append(keys, nftables.SetElement{Key: idPair(s.sid, s.dids[i])})
	}
	return firstErr(w.DelElements(ds, keys), w.DelElements(is, keys), delConns(w, f, s, idx))
}

// connKeys are the conns elements of s's destinations idx: none for a
// NAT service.
func connKeys(s *nftSvc, idx []int) []nftables.SetElement {
	if !s.dr() {
		return nil
	}
	var out []nftables.SetElement
	for _, i := range idx {
		out = append(out, nftables.SetElement{Key: idPair(s.sid, s.dids[i])})
	}
	return out
}

// addConns adds the counter elements of s's destinations idx: conns for
// DR, nat_in and nat_out for NAT (nftables_natcount.go).
func addConns(w nftWriter, f nftFam, s *nftSvc, idx []int) error {
	return firstErr(w.AddElements(setRef(f, setConns), connKeys(s, idx)), addNATCount(w, f, s, idx))
}

func delConns(w nftWriter, f nftFam, s *nftSvc, idx []int) error {
	return firstErr(w.DelElements(setRef(f, setConns), connKeys(s, idx)), delNATCount(w, f, s, idx))
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func allIdx(s *nftSvc) []int {
	idx := make([]int, len(s.Destinations))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func addService(w nftWriter, f nftFam, s *nftSvc, to nftTimeouts) error {
	if err := writeService(w, f, s, true, false, to); err != nil {
		return err
	}
	set, el := s.dispatch()
	if err := w.AddElements(setRef(f, set), []nftables.SetElement{el}); err != nil {
		return err
	}
	return addDests(w, f, s, allIdx(s))
}

func deleteService(w nftWriter, f nftFam, s *nftSvc) error {
	set, el := s.dispatch()
	if err := w.DelElements(setRef(f, set), []nftables.SetElement{{Key: el.Key}}); err != nil {
		return err
	}
	c := &nftables.Chain{Name: s.chainName(), Table: nftTable(f)}
	w.FlushChain(c)
	w.DelChain(c)
	if hasSchedSet(s) {
		w.DelSet(setRef(f, s.schedSet()))
	}
	return delDests(w, f, s, allIdx(s))
}

func hasSchedSet(s *nftSvc) bool {
	t, ok := schedTable(s)
	return ok && t.fixed == 0
}

// updateService rewrites s's chain and scheduling map, replaces its
// dispatch element and the destination elements that changed; the dests
// elements of kept destinations (and their counters) stay.
func updateService(w nftWriter, f nftFam, old, nw *nftSvc, to nftTimeouts) error {
	if err := writeService(w, f, nw, false, hasSchedSet(old), to); err != nil {
		return err
	}
	oset, oel := old.dispatch()
	nset, nel := nw.dispatch()
	if oset != nset || oel.Comment != nel.Comment {
		if err := w.DelElements(setRef(f, oset), []nftables.SetElement{{Key: oel.Key}}); err != nil {
			return err
		}
		if err := w.AddElements(setRef(f, nset), []nftables.SetElement{nel}); err != nil {
			return err
		}
	}
	oldIdx := map[uint32]int{}
	for i, did := range old.dids {
		oldIdx[did] = i
	}
	var added, infoChanged []int
	kept := map[uint32]bool{}
	for i, did := range nw.dids {
		j, ok := oldIdx[did]
		if !ok {
			added = append(added, i)
			continue
		}
		kept[did] = true
		if destComment(&old.Destinations[j]) != destComment(&nw.Destinations[i]) {
			infoChanged = append(infoChanged, i)
		}
	}
	var removed, keptOld []int
	for i, did := range old.dids {
		if !kept[did] {
			removed = append(removed, i)
		} else {
			keptOld = append(keptOld, i)
		}
	}
	if err := delDests(w, f, old, removed); err != nil {
		return err
	}
	if old.dr() != nw.dr() {
		// NAT and DR swapped (all destinations at once): the kept
		// destinations gain or lose their conns elements.
		var keptNew []int
		for i, did := range nw.dids {
			if kept[did] {
				keptNew = append(keptNew, i)
			}
		}
		if err := firstErr(delConns(w, f, old, keptOld), addConns(w, f, nw, keptNew)); err != nil {
			return err
		}
	}
	_, is := destSets(f)
	var del, add []nftables.SetElement
	for _, i := range infoChanged {
		_, in := destElements(nw, i)
		del = append(del, nftables.SetElement{Key: in.Key})
		add = append(add, in)
	}
	if err := firstErr(w.DelElements(is, del), w.AddElements(is, add)); err != nil {
		return err
	}
	return addDests(w, f, nw, added)
}

// phasedWriter orders a transaction so that the kernel does the least
// work: first every element deletion (a dispatch element goes before the
// chain it jumps to), then tables, chains, sets and rules in the order
// given, then every element addition. Element operations are grouped by
// map, so that each map's elements travel together. A rule that looks a
// map up binds it, and the kernel checks every element a map already has
// against each new binding: with the elements added after the rules, a
// table written from nothing checks none, where in service order the
// shared maps were walked once per service (quadratic in the table).
type phasedWriter struct {
	objs      []func(nftWriter)
	dels, add elemGroups
}

type elemGroups struct {
	order []string
	sets  map[string]*nftables.Set
	elems map[string][]nftables.SetElement
}

func (g *elemGroups) put(s *nftables.Set, e []nftables.SetElement) {
	if len(e) == 0 {
		return
	}
	k := fmt.Sprintf("%d/%s/%s", s.Table.Family, s.Table.Name, s.Name)
	if g.sets == nil {
		g.sets, g.elems = map[string]*nftables.Set{}, map[string][]nftables.SetElement{}
	}
	if _, ok := g.sets[k]; !ok {
		g.order = append(g.order, k)
		g.sets[k] = s
	}
	g.elems[k] = append(g.elems[k], e...)
}

func (g *elemGroups) replay(w nftWriter, del bool) error {
	for _, k := range g.order {
		var err error
		if del {
			err = w.DelElements(g.sets[k], g.elems[k])
		} else {
			err = w.AddElements(g.sets[k], g.elems[k])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *phasedWriter) obj(f func(nftWriter)) { p.objs = append(p.objs, f) }

func (p *phasedWriter) AddTable(t *nftables.Table)   { p.obj(func(w nftWriter) { w.AddTable(t) }) }
func (p *phasedWriter) AddChain(c *nftables.Chain)   { p.obj(func(w nftWriter) { w.AddChain(c) }) }
func (p *phasedWriter) FlushChain(c *nftables.Chain) { p.obj(func(w nftWriter) { w.FlushChain(c) }) }
func (p *phasedWriter) DelChain(c *nftables.Chain)   { p.obj(func(w nftWriter) { w.DelChain(c) }) }
func (p *phasedWriter) AddRule(r *nftables.Rule)     { p.obj(func(w nftWriter) { w.AddRule(r) }) }
func (p *phasedWriter) DelSet(s *nftables.Set)       { p.obj(func(w nftWriter) { w.DelSet(s) }) }
func (p *phasedWriter) FlushSet(s *nftables.Set)     { p.obj(func(w nftWriter) { w.FlushSet(s) }) }

func (p *phasedWriter) AddSet(s *nftables.Set, e []nftables.SetElement) error {
	p.obj(func(w nftWriter) { w.AddSet(s, nil) })
	p.add.put(s, e)
	return nil
}

func (p *phasedWriter) AddElements(s *nftables.Set, e []nftables.SetElement) error {
	p.add.put(s, e)
	return nil
}

func (p *phasedWriter) DelElements(s *nftables.Set, e []nftables.SetElement) error {
	p.dels.put(s, e)
	return nil
}

// replay writes the transaction into w in its phases.
func (p *phasedWriter) replay(w nftWriter) error {
	if err := p.dels.replay(w, true); err != nil {
		return err
	}
	for _, f := range p.objs {
		f(w)
	}
	return p.add.replay(w, false)
}
