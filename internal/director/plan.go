package director

import (
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/alert"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/vrrp"
)

// Plan is a keepalived.conf translated into lvskit configurations: plain
// values, with keepalived's defaults and inheritance resolved once, by
// Translate. Nothing in it runs, and nothing changes it once built: a
// Director applies a plan over an empty one to start, and a new plan over
// the running one to reload (see apply.go).
type Plan struct {
	// Source is the file the plan was loaded from.
	Source string
	// RouterID is global_defs' router_id, else the host name Load was
	// given.
	RouterID string

	Instances      []InstancePlan
	SyncGroups     []SyncGroupPlan
	VirtualServers []VirtualServerPlan

	// Alert is the e-mail configuration, without its run-time parts
	// (Logger, Clock); nil when global_defs has no smtp_server or no
	// notification_email.
	Alert *alert.Config
	// NoEmailFaults suppresses alerts of transitions to FAULT.
	NoEmailFaults bool

	// SyncDaemon is lvs_sync_daemon (or an instance's
	// lvs_sync_daemon_interface); nil when not configured.
	SyncDaemon *SyncDaemonPlan

	// LVSTimeouts are global_defs lvs_timeouts; zero fields are unchanged.
	LVSTimeouts ipvs.Timeouts

	// BGP is the bgp block (translate_bgp.go); nil when absent.
	BGP *BGPPlan

	// Static is static_ipaddress, static_routes and static_rules: set when
	// the director starts, whatever the VRRP state, and removed when it
	// stops.
	Static StaticPlan

	// NetNamespace is net_namespace: the network namespace the director
	// runs in (its host network, VRRP sockets, IPVS table, health checks
	// and scripts); empty for the director's own. NetNamespacePos is where
	// it was written.
	NetNamespace    string
	NetNamespacePos keepalived.Pos

	// Notices are what keepalived logs about this host, rather than
	// reports about the file, when it loads the file: a script disabled
	// for want of its user or program, the default script user missing,
	// an unsafe script run (translate_script.go). The director logs them
	// when it applies the plan; Load does not return them.
	Notices []Warning
}

// StaticPlan holds the static_* blocks, each line with its position.
type StaticPlan struct {
	Addresses []StaticAddress
	Routes    []StaticRoute
	Rules     []StaticRule
}

// StaticAddress is a line of static_ipaddress.
type StaticAddress struct {
	Pos keepalived.Pos
	netcfg.Address
}

// StaticRoute is a line of static_routes.
type StaticRoute struct {
	Pos keepalived.Pos
	netcfg.Route
}

// StaticRule is a line of static_rules.
type StaticRule struct {
	Pos keepalived.Pos
	netcfg.Rule
}

// InstancePlan is one vrrp_instance.
type InstancePlan struct {
	Pos keepalived.Pos
	// VRRP is the instance's configuration without the run-time parts
	// (Network, Transport, Clock, Logger, Metrics, Notify.Func, Trackers).
	VRRP vrrp.Config
	// Tracks become VRRP.Trackers when the instance is built: the
	// instance's own, then its sync group's.
	Tracks []TrackPlan
	// SMTPAlert says whether transitions are mailed.
	SMTPAlert bool
	// SyncGroup is the vrrp_sync_group the instance belongs to, if any.
	SyncGroup string
	// AuthType is the authentication's auth_type ("PASS", "AH"), or "" for
	// none; PASS is VRRP.AuthPass.
	AuthType string
}

// TrackKind says what a tracker watches.
type TrackKind int

// Tracker kinds.
const (
	// TrackInterface watches a link (track_interface, and the instance's
	// own interface unless dont_track_primary).
	TrackInterface TrackKind = iota + 1
	// TrackScript runs a vrrp_script (track_script).
	TrackScript
	// TrackFile follows the number in a track_file through inotify,
	// with keepalived's value × weight (vrrp.TrackFile).
	TrackFile
	// TrackProcess counts processes (track_process, vrrp.TrackProcess).
	TrackProcess
)

// TrackPlan is one tracker of an instance.
type TrackPlan struct {
	Kind   TrackKind
	Name   string
	Weight int
	// Interface is the link of a TrackInterface.
	Interface string
	// Script is the program of a TrackScript.
	Script vrrp.ScriptConfig
	// File is a TrackFile's file, weight, reverse and init_file (its
	// Weight above stays 0: the file's own weight applies).
	File vrrp.FileConfig
	// Process is a TrackProcess's (its Weight above stays 0: the
	// process tracker's own weight applies).
	Process vrrp.ProcessConfig
}

// SyncGroupPlan is one vrrp_sync_group.
type SyncGroupPlan struct {
	Pos     keepalived.Pos
	Name    string
	Members []string
	// Notify is without its Func.
	Notify    vrrp.Notify
	SMTPAlert bool
}

// VirtualServerPlan is one IPVS service with its real servers: a
// virtual_server block, or one address of a virtual_server_group.
type VirtualServerPlan struct {
	Pos keepalived.Pos
	// Service is the virtual service, without destinations.
	Service     ipvs.Service
	RealServers []RealServerPlan
	Quorum      int64
	Hysteresis  int64
	SorryServer *healthcheck.SorryServer
	Omega       bool
	SMTPAlert   bool
	// QuorumUp and QuorumDown are quorum_up / quorum_down: programs run
	// (without a shell) when the quorum is gained or lost.
	QuorumUp, QuorumDown Program
	// Lines are where the service's settings were written, for the
	// errors of a backend that cannot carry them.
	Lines ServiceLines
}

// ServiceLines are the positions of the settings of a virtual server that
// a backend may refuse (ipvs.Capabilities); an unset one is the
// virtual_server's position.
type ServiceLines struct {
	Protocol, FWMark, Scheduler, Persistence, OPS, Flag3 keepalived.Pos
	// SorryForward is the sorry server's sorry_server_lvs_method, or
	// lb_kind.
	SorryForward keepalived.Pos
}

// RealServerPlan is one real_server block: the healthcheck real server it
// runs as (its ipvs.Destination and checks, every setting inherited as
// keepalived inherits it), and what the director does on its transitions.
type RealServerPlan struct {
	Pos keepalived.Pos
	healthcheck.RealServer
	SMTPAlert bool
	// NotifyUp and NotifyDown are notify_up / notify_down: programs run
	// (without a shell) when the server becomes alive or dead.
	NotifyUp, NotifyDown Program
	// ForwardPos and ThresholdPos are where its lb_kind and uthreshold
	// were written, for the errors of a backend that cannot carry them.
	ForwardPos, ThresholdPos keepalived.Pos
}

// SyncDaemonPlan is the connection sync daemon configuration.
type SyncDaemonPlan struct {
	// Instance is the VRRP instance the daemon follows; empty runs both a
	// master and a backup daemon.
	Instance string
	Daemon   ipvs.SyncDaemon
}

// Key is the service's identity.
func (v *VirtualServerPlan) Key() ipvs.ServiceKey { return v.Service.Key() }
