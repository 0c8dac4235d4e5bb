package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// SyncGroup makes instances move together (keepalived's vrrp_sync_group):
// when one member becomes master on its own, the others are made master;
// when one steps down to backup, the others step down; while any member
// is in FAULT, every other member is held in FAULT.
type SyncGroup struct {
	name     string
	members  []*Instance
	notifier *notifier
	log      *slog.Logger

	mu     sync.Mutex
	faulty map[*Instance]bool
	state  State
}

// NewSyncGroup ties instances (not yet running) into a group. notify hears
// the group's transitions with Transition.Group set; logger nil discards.
func NewSyncGroup(name string, notify Notify, logger *slog.Logger, members ...*Instance) (*SyncGroup, error) {
	if len(members) < 2 {
		return nil, errors.New("new sync group: needs at least two instances")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &SyncGroup{name: name, members: members, faulty: map[*Instance]bool{}, log: logger.With("group", name)}
	for _, m := range members {
		m.mu.Lock()
		busy := m.group != nil || m.running
		m.mu.Unlock()
		if busy {
			return nil, fmt.Errorf("new sync group: instance %s is running or in another group", m.Name())
		}
	}
	for _, m := range members {
		m.mu.Lock()
		m.group = g
		m.mu.Unlock()
	}
	g.notifier = newNotifier(notify, func(msg string, args ...any) { g.log.Warn(msg, args...) })
	return g, nil
}

// Close stops the group's notifier after its queued notifications ran.
func (g *SyncGroup) Close() { g.notifier.close() }

// State is the state the group last moved to.
func (g *SyncGroup) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

func (g *SyncGroup) others(m *Instance) []*Instance {
	var o []*Instance
	for _, x := range g.members {
		if x != m {
			o = append(o, x)
		}
	}
	return o
}

// memberFault is called by a member whose trackers' fault status changed.
func (g *SyncGroup) memberFault(m *Instance, fault bool) {
	g.mu.Lock()
	if fault {
		g.faulty[m] = true
	} else {
		delete(g.faulty, m)
	}
	type upd struct {
		i     *Instance
		fault bool
	}
	var us []upd
	for _, x := range g.members {
		held := false
		for f := range g.faulty {
			if f != x {
				held = true
			}
		}
		us = append(us, upd{x, held})
	}
	g.mu.Unlock()
	for _, u := range us {
		u.i.post(func(rs *runState) {
			rs.forced = true
			rs.exec(rs.c.setGroupFault(rs.i.cfg.Clock.Now(), u.fault))
			rs.forced = false
		})
	}
}

// memberTransition is called by a member after a transition of its own.
func (g *SyncGroup) memberTransition(m *Instance, from, to State) {
	var force State
	switch {
	case to == StateMaster:
		force = StateMaster
	case from == StateMaster && to == StateBackup:
		force = StateBackup
	}
	g.mu.Lock()
	changed := g.state != to
	g.state = to
	g.mu.Unlock()
	if changed {
		g.log.Info("sync group transition", "to", to, "by", m.Name())
		g.notifier.send(Transition{Group: true, Name: g.name, From: from, To: to, Time: time.Now()})
	}
	if force == StateInit {
		return
	}
	for _, o := range g.others(m) {
		o.post(func(rs *runState) {
			rs.forced = true
			rs.exec(rs.c.force(rs.i.cfg.Clock.Now(), force))
			rs.forced = false
		})
	}
}
