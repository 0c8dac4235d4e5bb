package vrrp

import (
	"net/netip"
	"time"
)

// State is a VRRP instance's state.
type State uint8

// The states of RFC 3768/5798 section 6.4, plus keepalived's FAULT.
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	}
	return "UNKNOWN"
}

// actionKind says what the shell must do.
type actionKind uint8

// Actions the core asks the shell to carry out, in the order returned.
const (
	// actSendAdvert: send an advertisement with action.Priority.
	actSendAdvert actionKind = iota + 1
	// actAddVIPs: add the virtual addresses and routes.
	actAddVIPs
	// actRemoveVIPs: remove them.
	actRemoveVIPs
	// actAnnounce: send action.Count gratuitous ARPs / unsolicited NAs
	// for the virtual addresses.
	actAnnounce
	// actTransition: the state changed from action.From to action.To;
	// notify. A transition to StateInit is a stop.
	actTransition
	// actLowerAnswered: a master answers an advert of lower priority
	// (action.Priority, theirs) with the actions that follow; action.Count
	// adverts of lower priority went unanswered since the last answer.
	// Nothing to do but tell.
	actLowerAnswered
)

// action is one step the core asks of the shell.
type action struct {
	Kind     actionKind
	Priority uint8 // actSendAdvert, actLowerAnswered
	Count    int   // actAnnounce, actLowerAnswered
	From, To State // actTransition
}

// coreConfig holds what the pure state machine needs to know.
type coreConfig struct {
	version        int
	interval       time.Duration // Advertisement_Interval
	preempt        bool
	preemptDelay   time.Duration
	primary        netip.Addr // our primary address, for tie breaks
	lowerPrioNoAdv bool

	garpRepeat        int           // GARPs at transition to master
	garpDelay         time.Duration // second set after this; 0 none
	garpRefresh       time.Duration // periodic refresh; 0 none
	garpRefreshRepeat int
	garpLowerRepeat   int // after a lower-priority advert, as master; 0 none
	garpLowerDelay    time.Duration

	// owner: the configured (base) priority is 255.
	owner bool
}

// syncGate is what the core sees of its sync group (keepalived's
// vrrp_sync.c); nil when the instance is in none. The core reports its
// wantstate — the state it would be in disregarding the group — and asks
// before it becomes master on its own.
type syncGate interface {
	// setWant records the member's wantstate.
	setWant(State)
	// canGoMaster is vrrp_sync_can_goto_master: true when the group is
	// MASTER already or every other member wants MASTER.
	canGoMaster() bool
	// state is the group's state.
	state() State
}

// core is the VRRP state machine of RFC 3768 / RFC 5798 section 6.4 with
// keepalived's extensions. It is pure: every method takes the current time
// and returns the actions to carry out; timers are deadlines the shell reads
// with nextDeadline and reports with tick. A zero time.Time is a stopped timer.
type core struct {
	cfg coreConfig

	state    State
	prio     uint8 // effective priority
	fault    bool  // from trackers
	grpFault bool  // forced by the sync group

	masterAdverInterval time.Duration
	adverAt             time.Time // Adver_Timer
	downAt              time.Time // Master_Down_Timer
	garpDelayAt         time.Time
	garpRefreshAt       time.Time
	preemptAt           time.Time // preempt_delay: when a lower master may be preempted
	startedAt           time.Time
	masterAddr          netip.Addr // source of the last accepted advert while backup

	// A master answers adverts that do not take it down — of lower
	// priority (keepalived: an advert and a GARP round, "forcing new
	// election"), or of priority 0 (RFC: an advert) — at most once per
	// advert interval each (see advert): lowerAnswerAt and stopAnswerAt
	// are the last answers, lowerSuppressed counts lower adverts left
	// unanswered since.
	lowerAnswerAt, stopAnswerAt time.Time
	lowerSuppressed             int

	// want is keepalived's wantstate: the state the instance would be in
	// disregarding its sync group. Only a sync group reads it (sync).
	want State
	sync syncGate
}

func newCore(cfg coreConfig, prio uint8) *core {
	c := &core{cfg: cfg, prio: prio, masterAdverInterval: cfg.interval}
	c.want = c.configuredWant()
	return c
}

// configuredWant is the wantstate an instance starts with, and returns to
// when it leaves FAULT: MASTER for an address owner, else BACKUP. (With
// "state MASTER" keepalived's vrrp_complete_instance sets a non-owner's
// wantstate to MASTER, but keepalived 2.2.7 behaves as if it were BACKUP
// from the start — try_up_instance resets it — so a sync group of such
// members takes over after the full master-down interval, as measured.)
func (c *core) configuredWant() State {
	if c.cfg.owner {
		return StateMaster
	}
	return StateBackup
}

func (c *core) setWant(s State) {
	c.want = s
	if c.sync != nil {
		c.sync.setWant(s)
	}
}

// skewMin is VRRP_TIMER_SKEW_MIN: the skew time of priority 255.
func (c *core) skewMin() time.Duration {
	if c.cfg.version == 2 {
		return time.Second / 256
	}
	return c.masterAdverInterval / 256
}

// skew is Skew_Time: (256-Priority)/256 s in version 2 (RFC 3768 6.1),
// ((256-Priority) x Master_Adver_Interval)/256 in version 3 (RFC 5798 6.1).
func (c *core) skew() time.Duration {
	if c.cfg.version == 2 {
		return time.Duration(256-int(c.prio)) * time.Second / 256
	}
	return time.Duration(256-int(c.prio)) * c.masterAdverInterval / 256
}

// masterDownInterval is (3 x Master_Adver_Interval) + Skew_Time.
func (c *core) masterDownInterval() time.Duration {
	iv := c.cfg.interval
	if c.cfg.version == 3 {
		iv = c.masterAdverInterval
	}
	return 3*iv + c.skew()
}

// nextDeadline is the earliest running timer, zero if none runs.
func (c *core) nextDeadline() time.Time {
	var d time.Time
	for _, t := range []time.Time{c.adverAt, c.downAt, c.garpDelayAt, c.garpRefreshAt} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

func (c *core) stopTimers() {
	c.adverAt, c.downAt, c.garpDelayAt, c.garpRefreshAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

func (c *core) faulty() bool { return c.fault || c.grpFault }

// start is the Startup event of the Initialize state (RFC 5798 6.4.1).
func (c *core) start(now time.Time) []action {
	if c.state != StateInit {
		return nil
	}
	c.startedAt = now
	return c.enter(now, true)
}

// enter leaves Init or Fault for Master (owner), Backup, or Fault.
// keepalived's vrrp_init_state at startup, try_up_instance /
// vrrp_state_leave_fault after FAULT.
func (c *core) enter(now time.Time, startup bool) []action {
	from := c.state
	if c.faulty() {
		if from == StateFault {
			return nil
		}
		c.state = StateFault
		c.stopTimers()
		c.setWant(StateFault)
		return []action{{Kind: actTransition, From: from, To: StateFault}}
	}
	c.masterAdverInterval = c.cfg.interval
	if !startup {
		// try_up_instance: an owner wants MASTER again, anyone else BACKUP.
		c.setWant(c.configuredWant())
	}
	if c.prio == PriorityOwner {
		if c.sync == nil {
			return c.becomeMaster(now)
		}
		// In a sync group an owner starts as master only if the whole
		// group does (every member an owner wanting MASTER); after FAULT
		// only if the group lets it (vrrp_sync_can_goto_master).
		if startup && c.sync.state() == StateMaster || !startup && c.want == StateMaster && c.sync.canGoMaster() {
			return c.becomeMaster(now)
		}
	}
	c.state = StateBackup
	c.stopTimers()
	c.downAt = now.Add(c.masterDownInterval())
	switch {
	case startup && c.sync != nil && c.want == StateMaster && c.sync.state() == StateBackup:
		// vrrp_init_state: a sync group member that wants MASTER (an
		// owner) while its group starts as BACKUP (not all owners) times
		// out after one advert interval plus the minimal skew.
		c.downAt = now.Add(c.masterAdverInterval + c.skewMin())
	case startup && c.cfg.preempt && c.cfg.preemptDelay > 0:
		// keepalived: preempt_delay also delays taking over at startup.
		c.downAt = c.downAt.Add(c.cfg.preemptDelay)
	}
	return []action{{Kind: actTransition, From: from, To: StateBackup}}
}

// becomeMaster: send an advert, add the addresses, announce them, start the
// advert timer (RFC 5798 6.4.1/6.4.2 with keepalived's GARP timers).
func (c *core) becomeMaster(now time.Time) []action {
	from := c.state
	c.state = StateMaster
	c.stopTimers()
	c.preemptAt = time.Time{}
	c.masterAddr = c.cfg.primary
	c.adverAt = now.Add(c.cfg.interval)
	if c.cfg.garpDelay > 0 {
		c.garpDelayAt = now.Add(c.cfg.garpDelay)
	}
	if c.cfg.garpRefresh > 0 {
		c.garpRefreshAt = now.Add(c.cfg.garpRefresh)
	}
	acts := []action{
		{Kind: actSendAdvert, Priority: c.prio},
		{Kind: actAddVIPs},
	}
	if c.cfg.garpRepeat > 0 {
		acts = append(acts, action{Kind: actAnnounce, Count: c.cfg.garpRepeat})
	}
	return append(acts, action{Kind: actTransition, From: from, To: StateMaster})
}

// becomeBackup leaves Master for Backup after a better advert (or when the
// sync group says so).
func (c *core) becomeBackup(now time.Time) []action {
	from := c.state
	c.state = StateBackup
	c.stopTimers()
	c.downAt = now.Add(c.masterDownInterval())
	acts := []action{}
	if from == StateMaster {
		acts = append(acts, action{Kind: actRemoveVIPs})
	}
	return append(acts, action{Kind: actTransition, From: from, To: StateBackup})
}

// tick fires every timer due at now.
func (c *core) tick(now time.Time) []action {
	var acts []action
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	switch c.state {
	case StateBackup:
		if due(c.downAt) {
			// vrrp_goto_master: we want MASTER; a sync group may hold us
			// in BACKUP until every member wants it (preferring BACKUP
			// to thrashing), and then the master-down timer restarts.
			c.setWant(StateMaster)
			if c.sync != nil && !c.sync.canGoMaster() {
				c.downAt = now.Add(c.masterDownInterval())
				return nil
			}
			acts = append(acts, c.becomeMaster(now)...)
		}
	case StateMaster:
		if due(c.adverAt) {
			acts = append(acts, action{Kind: actSendAdvert, Priority: c.prio})
			c.adverAt = now.Add(c.cfg.interval)
		}
		if due(c.garpDelayAt) {
			c.garpDelayAt = time.Time{}
			acts = append(acts, action{Kind: actAnnounce, Count: c.cfg.garpRepeat})
		}
		if due(c.garpRefreshAt) {
			c.garpRefreshAt = now.Add(c.cfg.garpRefresh)
			acts = append(acts, action{Kind: actAnnounce, Count: c.cfg.garpRefreshRepeat})
		}
	}
	return acts
}

// received is an advert that passed every receive check.
type received struct {
	Priority uint8
	Interval time.Duration
	Src      netip.Addr
}

// advert handles a received advertisement (RFC 5798 6.4.2, 6.4.3).
func (c *core) advert(now time.Time, r received) []action {
	switch c.state {
	case StateBackup:
		if r.Priority == PriorityStop {
			// The master stopped: take over after Skew_Time.
			c.downAt = now.Add(c.skew())
			return nil
		}
		lower := r.Priority < c.prio
		if lower && c.cfg.preempt {
			if c.cfg.preemptDelay <= 0 {
				return nil // discard: we will preempt when the down timer fires
			}
			// keepalived's preempt_delay: keep honouring a lower master
			// until the delay since we first saw it has passed.
			if c.preemptAt.IsZero() {
				c.preemptAt = now.Add(c.cfg.preemptDelay)
			}
			if !now.Before(c.preemptAt) {
				return nil
			}
		} else {
			c.preemptAt = time.Time{}
		}
		if c.cfg.version == 3 {
			c.masterAdverInterval = r.Interval
		}
		c.masterAddr = r.Src
		c.downAt = now.Add(c.masterDownInterval())
		// vrrp_state_backup: held in BACKUP by a sync group or not, we
		// now have a master and want BACKUP.
		if c.want != StateBackup {
			c.setWant(StateBackup)
		}
		return nil
	case StateMaster:
		if r.Priority == PriorityStop {
			if c.answeredLately(c.stopAnswerAt, now) {
				return nil
			}
			c.stopAnswerAt = now
			c.adverAt = now.Add(c.cfg.interval)
			return []action{{Kind: actSendAdvert, Priority: c.prio}}
		}
		if r.Priority > c.prio || (r.Priority == c.prio && r.Src.Compare(c.cfg.primary) > 0) {
			if c.cfg.version == 3 {
				c.masterAdverInterval = r.Interval
			}
			c.masterAddr = r.Src
			c.setWant(StateBackup)
			return c.becomeBackup(now)
		}
		// A lower (or tied and lower address) master: the RFC discards;
		// keepalived by default answers with an advert and GARPs so the
		// other side steps down at once and the segment learns our MAC.
		// keepalived answers every such advert; a flood of them would make
		// as many adverts and GARP rounds, so the answer comes at most once
		// per advert interval: the advert goes to every peer (multicast, or
		// each unicast peer) and the GARPs to the whole segment, so one
		// answer serves every lower master, and our own adverts follow
		// every interval anyway.
		if c.cfg.lowerPrioNoAdv && c.cfg.garpLowerRepeat == 0 {
			return nil // lower_prio_no_advert without GARPs: no answer at all
		}
		if c.answeredLately(c.lowerAnswerAt, now) {
			c.lowerSuppressed++
			return nil
		}
		acts := []action{{Kind: actLowerAnswered, Priority: r.Priority, Count: c.lowerSuppressed}}
		c.lowerAnswerAt, c.lowerSuppressed = now, 0
		if !c.cfg.lowerPrioNoAdv {
			acts = append(acts, action{Kind: actSendAdvert, Priority: c.prio})
			c.adverAt = now.Add(c.cfg.interval)
		}
		if c.cfg.garpLowerRepeat > 0 {
			acts = append(acts, action{Kind: actAnnounce, Count: c.cfg.garpLowerRepeat})
			if c.cfg.garpLowerDelay > 0 {
				c.garpDelayAt = now.Add(c.cfg.garpLowerDelay)
			}
		}
		return acts
	}
	return nil
}

// answeredLately reports whether an answer at last (zero: none) is less
// than an advert interval before now.
func (c *core) answeredLately(last, now time.Time) bool {
	return !last.IsZero() && !now.Before(last) && now.Sub(last) < c.cfg.interval
}

// setPriority applies a new effective priority and tracker fault status.
func (c *core) setPriority(now time.Time, prio uint8, fault bool) []action {
	c.prio = prio
	c.fault = fault
	return c.reevaluate(now)
}

// setGroupFault is the sync group forcing (or releasing) FAULT.
func (c *core) setGroupFault(now time.Time, fault bool) []action {
	c.grpFault = fault
	return c.reevaluate(now)
}

func (c *core) reevaluate(now time.Time) []action {
	switch c.state {
	case StateFault:
		if !c.faulty() {
			return c.enter(now, false)
		}
	case StateBackup, StateMaster:
		if c.faulty() {
			return c.goFault()
		}
	}
	return nil
}

// goFault leaves Master or Backup for Fault. A master sends priority 0 so
// that a backup takes over after its skew time, as on a stop.
func (c *core) goFault() []action {
	from := c.state
	var acts []action
	if from == StateMaster {
		acts = append(acts, action{Kind: actSendAdvert, Priority: PriorityStop}, action{Kind: actRemoveVIPs})
	}
	c.state = StateFault
	c.stopTimers()
	c.setWant(StateFault)
	return append(acts, action{Kind: actTransition, From: from, To: StateFault})
}

// force moves the instance as its sync group decides (vrrp_sync_master,
// vrrp_sync_backup): to Master when every member wanted it, to Backup when
// a member stepped down; the group set our wantstate already.
func (c *core) force(now time.Time, to State) []action {
	switch {
	case to == StateMaster && c.state == StateBackup:
		c.want = StateMaster
		return c.becomeMaster(now)
	case to == StateBackup && c.state == StateMaster:
		c.want = StateBackup
		return c.becomeBackup(now)
	case to == StateBackup && c.state == StateFault && !c.faulty():
		return c.enter(now, false)
	}
	return nil
}

// stop is the Shutdown event: a master sends priority 0 and releases the
// addresses; every state goes back to Init.
func (c *core) stop(now time.Time) []action {
	from := c.state
	if from == StateInit {
		return nil
	}
	var acts []action
	if from == StateMaster {
		acts = append(acts, action{Kind: actSendAdvert, Priority: PriorityStop}, action{Kind: actRemoveVIPs})
	}
	c.state = StateInit
	c.stopTimers()
	return append(acts, action{Kind: actTransition, From: from, To: StateInit})
}
