package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// Instance is one VRRP instance (keepalived's vrrp_instance): the shell
// around the pure state machine. It owns the clock, the transport endpoint
// and the host network changes, and runs until its context ends.
type Instance struct {
	cfg *resolved
	log *slog.Logger
	met *instMetrics
	// dropLog bounds the debug lines about dropped packets.
	dropLog *logLimit

	rx   chan Packet
	wake chan struct{}

	// run is held by the instance's goroutine while it handles an event,
	// and by the transport's reader when it hands a backup an advert
	// directly (deliver), which spares a goroutine wake-up per advert.
	run   sync.Mutex
	runRS *runState // set while the loop runs; guarded by run

	mu      sync.Mutex
	inbox   []func(*runState)
	status  Status
	running bool
	group   *SyncGroup
}

// Status is a snapshot of an instance.
type Status struct {
	Name     string
	State    State
	Priority uint8 // effective
	// Master is the address of the current master as last seen (our own
	// source address while master); zero when unknown.
	Master netip.Addr
	// Source is the primary address our adverts carry.
	Source netip.Addr
	// MasterDownInterval is the current master-down interval.
	MasterDownInterval time.Duration
}

// New checks cfg (Config.Validate, and the run-time parts Validate leaves
// out) and returns an instance ready to Run.
func New(cfg Config) (*Instance, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, fmt.Errorf("new vrrp instance: %w", err)
	}
	r.Trackers = onInstanceClock(r.Trackers, r.Clock)
	i := &Instance{
		cfg:     r,
		log:     r.Logger.With("instance", r.Name, "vrid", r.VRID),
		dropLog: newLogLimit(r.Clock, debugLinesPerSecond),
		rx:      make(chan Packet, 64),
		wake:    make(chan struct{}, 1),
	}
	i.status = Status{Name: r.Name, State: StateInit}
	return i, nil
}

// Name is the instance's name.
func (i *Instance) Name() string { return i.cfg.Name }

// State is the current state.
func (i *Instance) State() State { return i.Status().State }

// Status returns a snapshot.
func (i *Instance) Status() Status {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.status
}

// post queues f to run on the instance's goroutine, in order.
func (i *Instance) post(f func(*runState)) {
	i.mu.Lock()
	i.inbox = append(i.inbox, f)
	i.mu.Unlock()
	select {
	case i.wake <- struct{}{}:
	default:
	}
}

// runState is what exists while Run runs.
type runState struct {
	i        *Instance
	ctx      context.Context
	c        *core
	ep       Endpoint
	rules    rxRules
	dsts     []netip.Addr
	primary  netip.Addr
	trackUp  []bool
	trackPri []int // the priority change trackers report themselves
	ownFault bool
	forced   bool // transitions now are caused by the sync group
	notifier *notifier
	bg       sync.WaitGroup
	buf      []byte
	msg      []byte   // the VRRP message of an AH datagram being built
	ah       *ahState // with AuthAH: the AH sequence number and IP ID
	// timer is the loop's timer with the system clock, which deliver moves
	// with a backup's deadline (under the run lock).
	timer Timer
}

// ErrRunning is returned by Run on an instance already running.
var ErrRunning = errors.New("instance already running")

// Run runs the instance until ctx ends, then stops gracefully: a master
// sends priority 0 and removes its addresses. It returns nil after a
// graceful stop, or an error if the instance cannot start.
func (i *Instance) Run(ctx context.Context) error {
	i.mu.Lock()
	if i.running {
		i.mu.Unlock()
		return ErrRunning
	}
	i.running = true
	i.mu.Unlock()
	defer func() {
		i.mu.Lock()
		i.running = false
		i.mu.Unlock()
	}()

	r := i.cfg
	// The instance's metrics appear when it runs: New has no side
	// effects, so an instance built and dropped (a rejected reload)
	// leaves no series behind.
	i.met = r.Metrics.instance(r.Name)
	rs := &runState{i: i, ctx: ctx}
	rs.notifier = newNotifier(r.Notify, r.Clock, func(msg string, args ...any) { i.log.Warn(msg, args...) })
	defer rs.notifier.close()

	if r.UseVMAC {
		vn := r.Network.(VMACNetwork)
		v := VMAC{Name: r.VMACName, Parent: r.Interface, MAC: vmacAddr(r.VRID, r.ipv6), XmitBase: !r.vmacDevice()}
		if r.ipv6 && r.Source.IsLinkLocalUnicast() {
			// set_link_local_address: a configured source is the VMAC's
			// link-local address.
			v.LinkLocal = r.Source.WithZone("")
		}
		if err := vn.CreateVMAC(ctx, v); err != nil {
			return fmt.Errorf("run vrrp instance %s: create vmac: %w", r.Name, err)
		}
		defer func() {
			if err := vn.DeleteVMAC(context.Background(), r.VMACName); err != nil {
				i.log.Warn("delete vmac", "err", err)
			}
		}()
	}

	ecfg := EndpointConfig{Interface: r.Interface, IPv6: r.ipv6, VRID: r.VRID, Source: r.Source, Multicast: !r.Unicast,
		Group: r.Group, AH: r.authType == AuthAH}
	if r.vmacDevice() {
		// keepalived: adverts leave from the VMAC, so their source MAC is
		// the virtual MAC, and are received there too — a macvlan (mode
		// private) takes frames whose source is its own MAC, such as a
		// peer's adverts from its VMAC, away from the parent.
		ecfg.Device = r.VMACName
	}
	ep, err := r.Transport.Open(ecfg, i.deliver)
	if err != nil {
		return fmt.Errorf("run vrrp instance %s: %w", r.Name, err)
	}
	defer ep.Close()
	rs.ep = ep
	rs.primary = ep.LocalAddr().WithZone("")
	rs.rules = rxRules{
		version: r.Version, vrid: r.VRID, ipv6: r.ipv6, owner: r.Priority == PriorityOwner,
		authType: r.authType, authData: r.authData, interval: r.AdvertInterval,
		addrs: r.addrs, checkAddrs: !r.SkipCheckAdvAddr, self: rs.primary, peers: r.peers,
	}
	if r.authType == AuthAH {
		rs.ah = &ahState{}
		rs.rules.ah, rs.rules.ahKey, rs.rules.ahUnicast = rs.ah, r.ahKey, r.Unicast
	}
	if r.Unicast {
		rs.dsts = r.UnicastPeers
	} else {
		rs.dsts = []netip.Addr{ecfg.group()}
	}
	rs.trackUp = make([]bool, len(r.Trackers))
	rs.trackPri = make([]int, len(r.Trackers))
	prio, _ := effectivePriority(r.Priority, r.Trackers, rs.trackUp, rs.trackPri)
	rs.c = newCore(r.coreConfig(rs.primary), prio)
	if g := i.groupOf(); g != nil {
		rs.c.sync = gate{g: g, m: i}
	}

	tctx, cancelTrackers := context.WithCancel(ctx)
	var twg sync.WaitGroup
	defer func() { cancelTrackers(); twg.Wait() }()
	first := make(chan int, len(r.Trackers))
	for n, t := range r.Trackers {
		twg.Add(1)
		go func() {
			defer twg.Done()
			reported := false
			level := func(delta int, fault bool) {
				i.post(func(rs *runState) { rs.trackerChanged(n, !fault, delta) })
				if !reported {
					reported = true
					first <- n
				}
			}
			var err error
			if lt, ok := t.Tracker.(levelTracker); ok {
				err = lt.trackLevel(tctx, level)
			} else {
				err = t.Tracker.Track(tctx, func(up bool) { level(0, !up) })
			}
			switch {
			case errors.Is(err, errTrackerDropped):
				// keepalived drops such a tracker at startup.
				i.log.Warn("tracker dropped", "tracker", t.Name, "err", err)
				i.post(func(rs *runState) { rs.trackerChanged(n, true, 0) })
			case err != nil:
				i.log.Warn("tracker stopped", "tracker", t.Name, "err", err)
				i.post(func(rs *runState) { rs.trackerChanged(n, false, 0) })
			}
		}()
	}
	// Trackers start as up; give them a moment to report, so an instance
	// does not start as master only to fall to FAULT at once.
	deadline := r.Clock.NewTimer(2 * time.Second)
wait:
	for range r.Trackers {
		select {
		case <-first:
		case <-deadline.C():
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	deadline.Stop()
	rs.drainInbox()
	prio, fault := effectivePriority(r.Priority, r.Trackers, rs.trackUp, rs.trackPri)
	rs.c.prio, rs.c.fault = prio, fault
	rs.ownFault = fault
	i.met.priority(prio)
	i.setStatus(rs)
	if g := i.groupOf(); g != nil && fault {
		g.memberFault(i, true)
	}

	rs.exec(rs.c.start(r.Clock.Now()))
	err = rs.loop()

	// Graceful stop, even though ctx is done.
	rs.ctx = context.WithoutCancel(ctx)
	sctx, cancel := context.WithTimeout(rs.ctx, 5*time.Second)
	rs.ctx = sctx
	rs.exec(rs.c.stop(r.Clock.Now()))
	cancel()
	rs.bg.Wait()
	return err
}

func (i *Instance) groupOf() *SyncGroup {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.group
}

// deliver is called by the transport; it never blocks. A backup whose
// goroutine is idle handles the advert right here: in Backup the core only
// moves its master-down deadline, and the goroutine is woken only when that
// deadline comes earlier (priority 0), since its timer then fires too late.
// Otherwise, or when the goroutine is busy (TryLock fails, which also keeps
// MemNet's synchronous delivery free of lock cycles), the packet is queued.
func (i *Instance) deliver(p Packet) {
	if len(i.rx) == 0 && i.run.TryLock() {
		if rs := i.runRS; rs != nil && rs.c.state == StateBackup {
			before := rs.c.nextDeadline()
			rs.receive(p)
			after, state := rs.c.nextDeadline(), rs.c.state
			wake := state != StateBackup || after.Before(before)
			if !wake && after != before && rs.timer != nil {
				// Move the timer with the deadline, so that the goroutine
				// does not wake up for a deadline that has gone.
				rs.timer.Reset(rs.timerWait(after))
			}
			i.run.Unlock()
			if wake {
				select {
				case i.wake <- struct{}{}:
				default:
				}
			}
			return
		}
		i.run.Unlock()
	}
	p.Data = slices.Clone(p.Data) // the transport reuses its buffer
	p.IPHeader = slices.Clone(p.IPHeader)
	select {
	case i.rx <- p:
	default:
		i.met.drop(ReasonQueueFull)
		i.dropLog.debug(i.log, "vrrp packet dropped", "reason", ReasonQueueFull, "src", p.Src)
	}
}

func (rs *runState) drainInbox() {
	i := rs.i
	for {
		i.mu.Lock()
		q := i.inbox
		i.inbox = nil
		i.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, f := range q {
			f(rs)
		}
	}
}

// earlyWake: with the system clock a backup wakes this long before its
// master-down timer and waits out the rest itself, watching for adverts,
// because Go's timers can fire up to a millisecond late.
const earlyWake = 2 * time.Millisecond

func (rs *runState) loop() error {
	i := rs.i
	clk := i.cfg.Clock
	precise := clock.IsWall(clk)
	timer := clk.NewTimer(time.Hour)
	defer timer.Stop()
	i.run.Lock()
	i.runRS = rs
	if precise {
		rs.timer = timer
	}
	defer func() {
		i.runRS = nil
		rs.timer = nil
		i.run.Unlock()
	}()
	for {
		timer.Reset(rs.timerWait(rs.c.nextDeadline()))
		i.run.Unlock()
		select {
		case <-rs.ctx.Done():
			i.run.Lock()
			return nil
		case p := <-i.rx:
			i.run.Lock()
			rs.receive(p)
		case <-timer.C():
			// A backup's deadline may have moved later meanwhile (adverts
			// handled in deliver): tick then finds nothing due and the
			// timer is armed again for the new deadline.
			i.run.Lock()
			if precise && rs.c.state == StateBackup {
				rs.waitDeadline()
			}
			rs.exec(rs.c.tick(clk.Now()))
		case <-i.wake:
			i.run.Lock()
			rs.drainInbox()
		}
		// Stop the timer so that Reset starts from a drained channel.
		if !timer.Stop() {
			select {
			case <-timer.C():
			default:
			}
		}
	}
}

// timerWait is how long the loop's timer runs for the deadline d (zero:
// none). With the system clock a backup wakes earlyWake before it.
func (rs *runState) timerWait(d time.Time) time.Duration {
	if d.IsZero() {
		return time.Hour
	}
	clk := rs.i.cfg.Clock
	wait := max(d.Sub(clk.Now()), 0)
	if precise := clock.IsWall(clk); precise && rs.c.state == StateBackup {
		wait = max(wait-earlyWake, 0)
	}
	return wait
}

// waitDeadline spins until the next deadline while handling adverts that
// arrive meanwhile (which may push the deadline away). It runs for at most
// earlyWake, and only when a backup is about to take over. At the deadline
// it takes the adverts a batching transport still holds, so that none that
// arrived in time is missed.
func (rs *runState) waitDeadline() {
	clk := rs.i.cfg.Clock
	for {
		d := rs.c.nextDeadline()
		now := clk.Now()
		if d.IsZero() || d.Sub(now) > earlyWake {
			return
		}
		if !now.Before(d) {
			if f, ok := rs.ep.(flusher); ok {
				f.Flush() // adverts for us land in rx: our run lock is held
				for {
					select {
					case p := <-rs.i.rx:
						rs.receive(p)
						continue
					default:
					}
					break
				}
			}
			return
		}
		select {
		case p := <-rs.i.rx:
			rs.receive(p)
		default:
			runtime.Gosched()
		}
	}
}

func (rs *runState) receive(p Packet) {
	i := rs.i
	a, reason, detail := rs.rules.check(p)
	if reason != "" {
		i.met.drop(reason)
		i.dropLog.debug(i.log, "vrrp packet dropped", "reason", reason, "detail", detail, "src", p.Src)
		return
	}
	i.met.advertReceived(a.Priority)
	now := i.cfg.Clock.Now()
	if clock.IsWall(i.cfg.Clock) && !p.Received.IsZero() && p.Received.Before(now) {
		now = p.Received
	}
	if rs.ah != nil && rs.c.state == StateMaster && a.Priority != PriorityStop &&
		(a.Priority < rs.c.prio || a.Priority == rs.c.prio && p.Src.Compare(rs.primary) < 0) {
		// keepalived, as master hearing a lower advert: go on from its
		// sequence number, so that our answer is not a replay there.
		rs.ah.lowerAdvert(rs.rules.ahSeq)
	}
	acts := rs.c.advert(now, received{Priority: a.Priority, Interval: a.Interval, Src: p.Src})
	if len(acts) > 0 && acts[0].Kind == actLowerAnswered {
		// keepalived logs every lower advert; the core answers at most one
		// per advert interval, and this line comes with the answer.
		args := []any{"src", p.Src, "priority", acts[0].Priority, "ours", rs.c.prio}
		if n := acts[0].Count; n > 0 {
			args = append(args, "unanswered", n)
		}
		i.log.Info("advert of lower priority answered, forcing a new election", args...)
	}
	rs.exec(acts)
	i.setStatus(rs)
}

func (rs *runState) trackerChanged(n int, up bool, delta int) {
	if rs.trackUp[n] == up && rs.trackPri[n] == delta && rs.c.state != StateInit {
		return
	}
	rs.trackUp[n], rs.trackPri[n] = up, delta
	r := rs.i.cfg
	if rs.c.state == StateInit {
		return // applied at start
	}
	prio, fault := effectivePriority(r.Priority, r.Trackers, rs.trackUp, rs.trackPri)
	rs.i.log.Info("tracker changed", "tracker", r.Trackers[n].Name, "up", up, "change", delta, "priority", prio, "fault", fault)
	rs.i.met.priority(prio)
	if fault != rs.ownFault {
		rs.ownFault = fault
		if g := rs.i.groupOf(); g != nil {
			g.memberFault(rs.i, fault)
		}
	}
	rs.exec(rs.c.setPriority(r.Clock.Now(), prio, fault))
	rs.i.setStatus(rs)
}

func (i *Instance) setStatus(rs *runState) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.status.State = rs.c.state
	i.status.Priority = rs.c.prio
	i.status.Source = rs.primary
	i.status.MasterDownInterval = rs.c.masterDownInterval()
	switch rs.c.state {
	case StateMaster:
		i.status.Master = rs.primary
	case StateBackup:
		i.status.Master = rs.c.masterAddr
	default:
		i.status.Master = netip.Addr{}
	}
}

// exec carries out the core's actions in order.
func (rs *runState) exec(acts []action) {
	i := rs.i
	r := i.cfg
	if rs.ah != nil {
		for _, a := range acts {
			if a.Kind == actTransition && a.To == StateMaster {
				rs.ah.becomingMaster()
			}
		}
	}
	for _, a := range acts {
		switch a.Kind {
		case actSendAdvert:
			rs.sendAdvert(a.Priority)
		case actAddVIPs:
			rs.addVIPs()
		case actRemoveVIPs:
			rs.removeVIPs()
		case actAnnounce:
			rs.announce(a.Count)
		case actTransition:
			i.log.Info("vrrp transition", "from", a.From, "to", a.To, "priority", rs.c.prio)
			i.met.transition(a.From, a.To)
			i.setStatus(rs)
			t := Transition{Name: r.Name, From: a.From, To: a.To, Priority: rs.c.prio, Time: r.Clock.Now()}
			rs.notifier.send(t)
			if g := i.groupOf(); g != nil {
				g.memberTransition(i, a.From, a.To, rs.forced)
			}
		}
	}
}

func (rs *runState) sendAdvert(prio uint8) {
	i := rs.i
	r := i.cfg
	adv := Advert{Version: r.Version, VRID: r.VRID, Priority: prio, Interval: r.AdvertInterval,
		AuthType: r.authType, AuthData: r.authData, Addrs: r.addrs}
	var d AHDatagram
	if rs.ah != nil {
		// keepalived counts once per advert, whatever the number of peers.
		d = AHDatagram{Src: rs.primary, Seq: rs.ah.next(), ID: rs.ah.nextID(), Unicast: r.Unicast}
	}
	for _, dst := range rs.dsts {
		var b []byte
		var err error
		if rs.ah == nil {
			b, err = adv.AppendMarshal(rs.buf[:0], rs.primary, dst)
			rs.buf = b
		} else {
			d.Dst = dst
			rs.msg, err = adv.AppendMarshal(rs.msg[:0], rs.primary, dst)
			if err == nil {
				b, err = AppendAH(rs.buf[:0], rs.msg, d, r.ahKey)
				rs.buf = b
			}
		}
		if err != nil {
			i.log.Error("encode advert", "err", err)
			return
		}
		if err := rs.ep.Send(b, dst); err != nil {
			i.log.Warn("send advert", "err", err)
			continue
		}
		i.met.advertSent(prio)
	}
}

// vmacDevice says whether the endpoint lives on the VMAC: with UseVMAC for
// multicast, IPv4 and IPv6 (the VMAC then has a link-local address to send
// IPv6 adverts from). With unicast peers keepalived 2.2 forces
// vmac_xmit_base ("unicast with use_vmac requires vmac_xmit_base -
// setting"): adverts are sent and received on the parent — unicast
// adverts arrive at the parent's MAC anyway — and only the VIPs and their
// gratuitous ARPs / NAs use the VMAC.
func (r *resolved) vmacDevice() bool { return r.UseVMAC && !r.Unicast && !r.VMACXmitBase }

func (rs *runState) vipLink(v VIP) string {
	r := rs.i.cfg
	if r.UseVMAC && v.Link == r.Interface {
		return r.VMACName
	}
	return v.Link
}

func (rs *runState) addVIPs() {
	i := rs.i
	r := i.cfg
	for _, v := range r.VIPs {
		if err := r.Network.AddAddress(rs.ctx, Address{Link: rs.vipLink(v), Prefix: v.Prefix, Label: v.Label}); err != nil {
			i.log.Error("add virtual address", "addr", v.Prefix, "err", err)
		}
	}
	if rn, ok := r.Network.(RouteNetwork); ok {
		for _, rt := range r.Routes {
			if err := rn.AddRoute(rs.ctx, rt); err != nil {
				i.log.Error("add virtual route", "dst", rt.Dst, "err", err)
			}
		}
	}
	if mn, ok := r.Network.(MasterItemNetwork); ok {
		for _, it := range r.MasterItems {
			if err := mn.AddMasterItem(rs.ctx, it); err != nil {
				i.log.Error("add virtual setting", "item", it.String(), "err", err)
			}
		}
	}
	if r.NoAccept && r.Priority != PriorityOwner {
		if err := r.Network.(AcceptNetwork).BlockAddresses(rs.blockAddrs()); err != nil {
			i.log.Error("block virtual addresses (no_accept)", "err", err)
		}
	}
}

// blockAddrs are the addresses to block without accept mode: an IPv6
// link-local one with its link as zone.
func (rs *runState) blockAddrs() []netip.Addr {
	var out []netip.Addr
	for _, v := range rs.i.cfg.VIPs {
		a := v.Prefix.Addr()
		if a.Is6() && a.IsLinkLocalUnicast() {
			a = a.WithZone(rs.vipLink(v))
		}
		out = append(out, a)
	}
	return out
}

func (rs *runState) removeVIPs() {
	i := rs.i
	r := i.cfg
	if r.NoAccept && r.Priority != PriorityOwner {
		if err := r.Network.(AcceptNetwork).UnblockAddresses(rs.blockAddrs()); err != nil {
			i.log.Error("unblock virtual addresses", "err", err)
		}
	}
	if mn, ok := r.Network.(MasterItemNetwork); ok {
		for k := len(r.MasterItems) - 1; k >= 0; k-- {
			it := r.MasterItems[k]
			if err := mn.DeleteMasterItem(rs.ctx, it); err != nil {
				i.log.Error("delete virtual setting", "item", it.String(), "err", err)
			}
		}
	}
	if rn, ok := r.Network.(RouteNetwork); ok {
		for _, rt := range r.Routes {
			if err := rn.DeleteRoute(rs.ctx, rt); err != nil {
				i.log.Error("delete virtual route", "dst", rt.Dst, "err", err)
			}
		}
	}
	for _, v := range r.VIPs {
		if err := r.Network.DeleteAddress(rs.ctx, Address{Link: rs.vipLink(v), Prefix: v.Prefix, Label: v.Label}); err != nil {
			i.log.Error("delete virtual address", "addr", v.Prefix, "err", err)
		}
	}
}

// announce sends GARPs / NAs in the background so adverts stay on time.
func (rs *runState) announce(count int) {
	i := rs.i
	r := i.cfg
	byLink := map[string][]netip.Addr{}
	var links []string
	for _, v := range r.VIPs {
		l := rs.vipLink(v)
		if _, ok := byLink[l]; !ok {
			links = append(links, l)
		}
		byLink[l] = append(byLink[l], v.Prefix.Addr())
	}
	iv := r.GARPInterval
	if r.ipv6 {
		iv = r.GNAInterval
	}
	var mac []byte
	if r.UseVMAC {
		mac = vmacAddr(r.VRID, r.ipv6)
	}
	ctx := rs.ctx
	for _, l := range links {
		a := Announcement{Link: l, Addrs: byLink[l], SourceMAC: mac, Count: count, Interval: iv}
		rs.bg.Add(1)
		go func() {
			defer rs.bg.Done()
			if err := r.Network.Announce(ctx, a); err != nil {
				i.log.Warn("announce virtual addresses", "link", a.Link, "err", err)
			}
		}()
	}
}
