package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lvskit/lvskit/internal/names"
)

// SyncGroup makes instances move together, with the semantics of
// keepalived 2.2's vrrp_sync_group (vrrp_sync.c and the transition matrix
// of vrrp_scheduler.c):
//
//   - Each member has a wantstate: the state it would be in on its own.
//     A backup whose master-down timer expires wants MASTER, but becomes
//     master only when the group is MASTER already or every other member
//     wants MASTER too (vrrp_sync_can_goto_master); otherwise it stays
//     BACKUP and its master-down timer restarts. The group prefers BACKUP
//     to thrashing: one member cannot pull the others away from a working
//     master.
//   - When a member becomes master, every other member is made master
//     (vrrp_sync_master).
//   - When a master steps down to BACKUP because it heard a higher
//     priority, every other member leaves MASTER for BACKUP, without
//     sending priority 0 (vrrp_sync_backup).
//   - When a member goes to FAULT (its trackers), every other member goes
//     to FAULT; a master sends priority 0 first (vrrp_sync_fault). The
//     members leave FAULT, for BACKUP, only when no member is faulty.
//   - At startup the group is MASTER, and its members start as masters,
//     only when every member is an address owner (priority 255);
//     otherwise it is BACKUP, an owner among the members times out after
//     one advert interval and the minimal skew (vrrp_init_state) but then
//     waits for the others like any member, and InitialState MASTER on a
//     non-owner changes nothing (keepalived 2.2.7, measured).
//
// The group's own state (State, and the group notifications) is the state
// it last synced its members to. Its notifications take their time from its
// first member's clock (Config.Clock).
type SyncGroup struct {
	name     string
	members  []*Instance
	notifier *notifier
	log      *slog.Logger

	mu     sync.Mutex
	want   map[*Instance]State // each member's wantstate
	cur    map[*Instance]State // each member's state as last reported
	faulty map[*Instance]bool  // members faulty on their own (trackers)
	state  State
	begun  bool // the startup notification was sent
}

// NewSyncGroup ties instances (not yet running) into a group. notify hears
// the group's transitions with Transition.Group set; logger nil discards.
func NewSyncGroup(name string, notify Notify, logger *slog.Logger, members ...*Instance) (*SyncGroup, error) {
	if len(members) == 0 {
		return nil, errors.New("new sync group: needs at least one instance")
	}
	if err := names.Name(name); err != nil {
		return nil, fmt.Errorf("new sync group %q: %w", name, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &SyncGroup{name: name, members: members, log: logger.With("group", name),
		want: map[*Instance]State{}, cur: map[*Instance]State{}, faulty: map[*Instance]bool{}}
	seen := map[*Instance]bool{}
	for _, m := range members {
		if seen[m] {
			return nil, fmt.Errorf("new sync group: instance %s is listed twice", m.Name())
		}
		seen[m] = true
		m.mu.Lock()
		busy := m.group != nil || m.running
		m.mu.Unlock()
		if busy {
			return nil, fmt.Errorf("new sync group: instance %s is running or in another group", m.Name())
		}
	}
	// vrrp_sync_set_group: the group starts MASTER only if every member is
	// an address owner wanting MASTER.
	g.state = StateMaster
	for _, m := range members {
		w := m.cfg.initialWant()
		g.want[m] = w
		g.cur[m] = StateInit
		if w != StateMaster || m.cfg.Priority != PriorityOwner {
			g.state = StateBackup
		}
	}
	for _, m := range members {
		m.mu.Lock()
		m.group = g
		m.mu.Unlock()
	}
	g.notifier = newNotifier(notify, g.clock(), func(msg string, args ...any) { g.log.Warn(msg, args...) })
	return g, nil
}

// clock is the group's time source, for its notifications: its first
// member's clock (members of a group run on one clock).
func (g *SyncGroup) clock() Clock { return g.members[0].cfg.Clock }

// Close stops the group's notifier after its queued notifications ran.
func (g *SyncGroup) Close() { g.notifier.close() }

// State is the state the group last moved to.
func (g *SyncGroup) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

// gate is a member's view of the group, handed to its core.
type gate struct {
	g *SyncGroup
	m *Instance
}

func (x gate) setWant(s State) {
	x.g.mu.Lock()
	x.g.want[x.m] = s
	x.g.mu.Unlock()
}

func (x gate) canGoMaster() bool {
	x.g.mu.Lock()
	defer x.g.mu.Unlock()
	return x.g.canGoMasterLocked(x.m)
}

func (x gate) state() State {
	x.g.mu.Lock()
	defer x.g.mu.Unlock()
	return x.g.state
}

// canGoMasterLocked is vrrp_sync_can_goto_master.
func (g *SyncGroup) canGoMasterLocked(m *Instance) bool {
	if g.state == StateMaster {
		return true
	}
	for _, o := range g.members {
		if o != m && g.want[o] != StateMaster {
			return false
		}
	}
	return true
}

// setStateLocked moves the group's state and queues the notification.
func (g *SyncGroup) setStateLocked(to State, by *Instance, what string) {
	from := g.state
	g.state = to
	g.begun = true
	g.log.Info(what, "from", from, "to", to, "by", by.Name())
	g.notifier.send(Transition{Group: true, Name: g.name, From: from, To: to, Time: g.clock().Now()})
}

// forceLocked queues a transition of member o to state to, done on its own
// goroutine; the transitions it causes there do not feed back into the
// group.
func forceLocked(o *Instance, to State) {
	o.post(func(rs *runState) {
		rs.forced = true
		rs.exec(rs.c.force(rs.i.cfg.Clock.Now(), to))
		rs.forced = false
	})
}

// memberFault is called by a member whose trackers' fault status changed,
// before it acts on it (keepalived's down_instance / try_up_instance).
func (g *SyncGroup) memberFault(m *Instance, fault bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	was := len(g.faulty)
	if fault {
		g.faulty[m] = true
		g.want[m] = StateFault
	} else {
		delete(g.faulty, m)
		// try_up_instance: an owner wants MASTER again, others BACKUP.
		g.want[m] = m.cfg.initialWant()
	}
	if fault && was == 0 && g.state != StateFault {
		// vrrp_sync_fault: every other member wants FAULT.
		for _, o := range g.members {
			if o != m && g.cur[o] != StateFault {
				g.want[o] = StateFault
			}
		}
		g.setStateLocked(StateFault, m, "sync group: syncing instances to FAULT")
	}
	if !fault && len(g.faulty) == 0 {
		// The last faulty member recovers: the others leave FAULT (for
		// BACKUP) with it; the group's state follows that member's
		// transition (memberTransition).
		for _, o := range g.members {
			if o != m && g.want[o] == StateFault {
				g.want[o] = StateBackup
			}
		}
	}
	// A member is held in FAULT while any other member is faulty.
	for _, x := range g.members {
		held := false
		for f := range g.faulty {
			if f != x {
				held = true
			}
		}
		x.post(func(rs *runState) {
			rs.forced = true
			rs.exec(rs.c.setGroupFault(rs.i.cfg.Clock.Now(), held))
			rs.forced = false
		})
	}
}

// memberTransition is called by a member after each transition: forced
// ones (caused by the group) only update the group's record, the others
// drive the group as keepalived's transition matrix does.
func (g *SyncGroup) memberTransition(m *Instance, from, to State, forced bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur[m] = to
	if !g.begun && from == StateInit && (g.state == StateBackup || g.state == StateFault) {
		// vrrp_init_state: a group starting in BACKUP or FAULT notifies.
		g.begun = true
		g.log.Info("sync group: starting", "state", g.state)
		g.notifier.send(Transition{Group: true, Name: g.name, From: StateInit, To: g.state, Time: g.clock().Now()})
	}
	g.begun = true
	if forced {
		return
	}
	switch {
	case to == StateMaster && g.state != StateMaster:
		// vrrp_sync_master (BACKUP->MASTER, FAULT->MASTER). The member
		// asked vrrp_sync_can_goto_master just before; keepalived, single
		// threaded, asks again and always gets yes. Here another member
		// may have changed its mind since (it heard a master), and is
		// made master all the same, as it would have been a moment
		// earlier: if that master is better, it steps down and pulls the
		// group back to BACKUP (vrrp_sync_backup).
		for _, o := range g.members {
			if o != m && g.cur[o] != StateMaster {
				g.want[o] = StateMaster
				forceLocked(o, StateMaster)
			}
		}
		g.setStateLocked(StateMaster, m, "sync group: syncing instances to MASTER")
	case to == StateBackup && (from == StateMaster || from == StateFault) && g.state != StateBackup:
		// vrrp_sync_backup (MASTER->BACKUP after a higher priority
		// advert; and leaving FAULT in try_up_instance).
		for _, o := range g.members {
			if o != m && g.cur[o] != StateBackup {
				g.want[o] = StateBackup
				forceLocked(o, StateBackup)
			}
		}
		g.setStateLocked(StateBackup, m, "sync group: syncing instances to BACKUP")
	}
}
