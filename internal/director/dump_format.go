package director

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// keepalived's dump formats (dump.go), from keepalived 2.2.7's
// vrrp_print.c (keepalived.stats), vrrp_data.c (keepalived.data) and
// vrrp_json.c (keepalived.json). Only fields the director has are
// written: keepalived's internals (file descriptors, socket pools, the
// interfaces table, global_defs) are left out, and so is
// master_priority, which the director does not keep.

// kaInstance is one instance with keepalived's defaults resolved and its
// values in keepalived's units.
type kaInstance struct {
	p  *InstancePlan
	st VRRPStatus

	state, wantstate int // 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT
	basePrio         int
	garpDelay        time.Duration
	garpRep          int
	garpRefresh      time.Duration
	garpRefreshRep   int
	garpLowerDelay   time.Duration
	garpLowerRep     int
	stats            kaStats
}

// kaStats are keepalived's vrrp_stats.
type kaStats struct {
	AdvertRcvd        uint64 `json:"advert_rcvd"`
	AdvertSent        uint64 `json:"advert_sent"`
	BecomeMaster      uint64 `json:"become_master"`
	ReleaseMaster     uint64 `json:"release_master"`
	PacketLenErr      uint64 `json:"packet_len_err"`
	AdvertIntervalErr uint64 `json:"advert_interval_err"`
	IPTTLErr          uint64 `json:"ip_ttl_err"`
	InvalidTypeRcvd   uint64 `json:"invalid_type_rcvd"`
	AddrListErr       uint64 `json:"addr_list_err"`
	InvalidAuthType   uint64 `json:"invalid_authtype"`
	AuthTypeMismatch  uint64 `json:"authtype_mismatch"`
	AuthFailure       uint64 `json:"auth_failure"`
	PriZeroRcvd       uint64 `json:"pri_zero_rcvd"`
	PriZeroSent       uint64 `json:"pri_zero_sent"`
}

// keepalivedStats maps the director's counters to keepalived's, counting
// as keepalived 2.2.7 does (measured against it, TestIntegrationKeepalivedDumps
// in examples/director):
//
//   - keepalived counts an advert as received before it compares the
//     addresses, so advert_rcvd includes the address-list errors;
//   - a version 2 advert with another interval is dropped without a
//     count: advert_interval_err stays 0 in keepalived's files (the
//     director's own counters, lvskit_vrrp_drops_total{reason="interval"}
//     and the status, count it);
//   - the receive rules with no keepalived counter (version, checksum,
//     VRID, own packet, unicast peer, queue full) are left out, as
//     keepalived counts them only for SNMP; an auth type keepalived does
//     not know counts as a mismatch here (keepalived: invalid_authtype).
func keepalivedStats(c VRRPCounters) kaStats {
	dr := func(r vrrp.DropReason) uint64 { return c.Drops[string(r)] }
	return kaStats{
		AdvertRcvd:       c.AdvertsReceived + dr(vrrp.ReasonAddrList),
		AdvertSent:       c.AdvertsSent,
		BecomeMaster:     c.BecameMaster,
		ReleaseMaster:    c.LeftMaster,
		PacketLenErr:     dr(vrrp.ReasonShort) + dr(vrrp.ReasonAddrCount),
		IPTTLErr:         dr(vrrp.ReasonTTL),
		InvalidTypeRcvd:  dr(vrrp.ReasonType),
		AddrListErr:      dr(vrrp.ReasonAddrList),
		AuthTypeMismatch: dr(vrrp.ReasonAuthType),
		AuthFailure:      dr(vrrp.ReasonAuth),
		PriZeroRcvd:      c.PriorityZeroReceived,
		PriZeroSent:      c.PriorityZeroSent,
	}
}

var kaStates = map[string]int{"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3}

func (s dumpSnapshot) kaInstances() []kaInstance {
	var out []kaInstance
	for i := range s.plan.Instances {
		p := &s.plan.Instances[i]
		k := kaInstance{p: p, st: s.instances[i], stats: keepalivedStats(s.instances[i].Counters)}
		k.state = kaStates[k.st.State]
		// The director's sync groups keep each member's wantstate to
		// themselves: the dumps show the state.
		k.wantstate = k.state
		c := &p.VRRP
		k.basePrio = c.Priority
		if k.basePrio == 0 {
			k.basePrio = 100
		}
		k.garpDelay = orDefault(c.GARPMasterDelay, 5*time.Second)
		k.garpRep = orDefault(c.GARPMasterRepeat, 5)
		k.garpRefresh = max(c.GARPMasterRefresh, 0)
		k.garpRefreshRep = orDefault(c.GARPMasterRefreshRepeat, 1)
		k.garpLowerDelay = orDefault(c.GARPLowerPrioDelay, k.garpDelay)
		k.garpLowerRep = orDefault(c.GARPLowerPrioRepeat, k.garpRep)
		out = append(out, k)
	}
	return out
}

// orDefault is v, or def when v is zero; a negative v is none (zero), as
// vrrp.Config's GARP settings.
func orDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// vips are the virtual addresses as keepalived's format_ipaddress writes
// them: "10.0.0.1/24 dev eth0 scope global label eth0:1 set", the length
// left out for a host address, "set" while the address is on the host.
func (k *kaInstance) vips() []string {
	var out []string
	for _, v := range k.p.VRRP.VIPs {
		s := v.Prefix.Addr().String()
		if !v.Prefix.IsSingleIP() {
			s = v.Prefix.String()
		}
		link := v.Link
		if link == "" {
			link = k.p.VRRP.Interface
		}
		s += " dev " + link + " scope " + addrScope(v.Prefix.Addr())
		if v.Label != "" {
			s += " label " + v.Label
		}
		if k.state == 2 {
			s += " set"
		}
		out = append(out, s)
	}
	return out
}

func addrScope(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "host"
	case a.IsLinkLocalUnicast():
		return "link"
	}
	return "global"
}

// tracked returns the instance's tracked interfaces (track_interface, not
// its own interface) and scripts, and whether its own interface is left
// untracked (dont_track_primary).
func (k *kaInstance) tracked() (ifaces []TrackPlan, scripts []TrackPlan, dontTrackPrimary bool) {
	dontTrackPrimary = true
	for _, t := range k.p.Tracks {
		switch {
		case t.Kind == TrackInterface && t.Interface == k.p.VRRP.Interface:
			dontTrackPrimary = false
		case t.Kind == TrackInterface:
			ifaces = append(ifaces, t)
		case t.Kind == TrackScript:
			scripts = append(scripts, t)
		}
	}
	return ifaces, scripts, dontTrackPrimary
}

// cmdStr writes a command as keepalived's cmd_str: each word in single
// quotes.
func cmdStr(path string, args []string) string {
	words := []string{"'" + path + "'"}
	for _, a := range args {
		words = append(words, "'"+a+"'")
	}
	return strings.Join(words, " ")
}

// kaTime is keepalived's "%ld.%6.6ld (%s)" of a timeval with its ctime.
func kaTime(t time.Time) string {
	var sec, usec int64
	if !t.IsZero() {
		sec, usec = t.Unix(), int64(t.Nanosecond()/1000)
	}
	lt := time.Unix(sec, usec*1000)
	return fmt.Sprintf("%d.%06d (%s.%06d%s)", sec, usec, lt.Format("Mon Jan _2 15:04:05"), usec, lt.Format(" 2006"))
}

// kaSeconds is a time as keepalived's timeval_to_double.
func kaSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMicro()) / 1e6
}

func enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func b2u(b bool) int {
	if b {
		return 1
	}
	return 0
}

// formatStats writes keepalived.stats.
func formatStats(b *bytes.Buffer, snap dumpSnapshot) error {
	for _, k := range snap.kaInstances() {
		s := k.stats
		fmt.Fprintf(b, "VRRP Instance: %s\n", k.p.VRRP.Name)
		fmt.Fprintf(b, "  Advertisements:\n    Received: %d\n    Sent: %d\n", s.AdvertRcvd, s.AdvertSent)
		fmt.Fprintf(b, "  Became master: %d\n  Released master: %d\n", s.BecomeMaster, s.ReleaseMaster)
		fmt.Fprintf(b, "  Packet Errors:\n    Length: %d\n    TTL: %d\n    Invalid Type: %d\n    Advertisement Interval: %d\n    Address List: %d\n",
			s.PacketLenErr, s.IPTTLErr, s.InvalidTypeRcvd, s.AdvertIntervalErr, s.AddrListErr)
		fmt.Fprintf(b, "  Authentication Errors:\n    Invalid Type: %d\n    Type Mismatch: %d\n    Failure: %d\n",
			s.InvalidAuthType, s.AuthTypeMismatch, s.AuthFailure)
		fmt.Fprintf(b, "  Priority Zero:\n    Received: %d\n    Sent: %d\n", s.PriZeroRcvd, s.PriZeroSent)
	}
	return nil
}

// formatData writes keepalived.data: the VRRP Topology and VRRP Scripts
// sections.
func formatData(b *bytes.Buffer, snap dumpSnapshot) error {
	states := []string{"INIT", "BACKUP", "MASTER", "FAULT"}
	b.WriteString("------< VRRP Topology >------\n")
	for _, k := range snap.kaInstances() {
		c := &k.p.VRRP
		line := func(format string, args ...any) { fmt.Fprintf(b, "   "+format+"\n", args...) }
		fmt.Fprintf(b, " VRRP Instance = %s\n", c.Name)
		line("VRRP Version = %d", k.st.Version)
		line("State = %s", states[k.state])
		line("Flags: none")
		line("Wantstate = %s", states[k.wantstate])
		line("Last transition = %s", kaTime(k.st.LastTransition))
		line("Interface = %s", c.Interface)
		if c.Source.IsValid() {
			line("Using src_ip = %s", c.Source)
		}
		if c.UseVMAC {
			line("Use VMAC, is_up = %t, xmit_base = %t", k.state == 2, c.VMACXmitBase)
		}
		if len(c.UnicastPeers) > 0 || c.Unicast {
			line("Unicast Peers (%d):", len(c.UnicastPeers))
			for _, p := range c.UnicastPeers {
				fmt.Fprintf(b, "     %s\n", p)
			}
		} else if k.st.Version == 3 && len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6() {
			line("Multicast address ff02::12")
		} else {
			line("Multicast address 224.0.0.18")
		}
		line("Gratuitous ARP delay = %d", int(k.garpDelay/time.Second))
		line("Gratuitous ARP repeat = %d", k.garpRep)
		line("Gratuitous ARP refresh = %d", int(k.garpRefresh/time.Second))
		line("Gratuitous ARP refresh repeat = %d", k.garpRefreshRep)
		line("Gratuitous ARP lower priority delay = %d", int(k.garpLowerDelay/time.Second))
		line("Gratuitous ARP lower priority repeat = %d", k.garpLowerRep)
		line("Send advert after receive lower priority advert = %t", !c.LowerPrioNoAdvert)
		line("Virtual Router ID = %d", c.VRID)
		line("Priority = %d", k.basePrio)
		line("Effective priority = %d", k.st.EffectivePriority)
		adv := orDefault(c.AdvertInterval, time.Second)
		if k.st.Version == 2 {
			line("Advert interval = %d sec", int(adv/time.Second))
		} else {
			line("Advert interval = %d milli-sec", int(adv/time.Millisecond))
		}
		line("Accept = %s", enabled(!c.NoAccept))
		line("Preempt = %s", enabled(!c.NoPreempt))
		if c.PreemptDelay > 0 {
			line("Preempt delay = %d secs", int(c.PreemptDelay/time.Second))
		}
		if c.AuthPass != "" {
			line("Authentication type = SIMPLE_PASSWORD")
			line("Password = %s", c.AuthPass)
		}
		vips := k.vips()
		line("Virtual IP (%d):", len(vips))
		for _, v := range vips {
			fmt.Fprintf(b, "     %s\n", v)
		}
		ifaces, scripts, _ := k.tracked()
		if len(ifaces) > 0 {
			line("Tracked interfaces :")
			for _, t := range ifaces {
				fmt.Fprintf(b, "     %s weight %d\n", t.Interface, t.Weight)
			}
		}
		if len(scripts) > 0 {
			line("Tracked scripts :")
			for _, t := range scripts {
				fmt.Fprintf(b, "     %s weight %d\n", t.Name, t.Weight)
			}
		}
		line("Using smtp notification = %s", map[bool]string{true: "yes", false: "no"}[k.p.SMTPAlert])
	}
	if len(snap.scripts) == 0 {
		return nil
	}
	b.WriteString("------< VRRP Scripts >------\n")
	for _, sc := range snap.scripts {
		var t *TrackPlan
		var users []string
		for i := range snap.plan.Instances {
			for j := range snap.plan.Instances[i].Tracks {
				tp := &snap.plan.Instances[i].Tracks[j]
				if tp.Kind == TrackScript && tp.Name == sc.Name {
					if t == nil {
						t = tp
					}
					users = append(users, fmt.Sprintf("%s, weight %d", snap.plan.Instances[i].VRRP.Name, tp.Weight))
				}
			}
		}
		if t == nil {
			continue
		}
		line := func(format string, args ...any) { fmt.Fprintf(b, "   "+format+"\n", args...) }
		fmt.Fprintf(b, " VRRP Script = %s\n", sc.Name)
		line("Command = %s", cmdStr(t.Script.Path, t.Script.Args))
		line("Interval = %d sec", int(orDefault(t.Script.Interval, time.Second)/time.Second))
		line("Timeout = %d sec", int(t.Script.Timeout/time.Second))
		line("Weight = %d", t.Weight)
		line("Rise = %d", orDefault(t.Script.Rise, 1))
		line("Fall = %d", orDefault(t.Script.Fall, 1))
		line("Status = %s", sc.Status)
		line("Tracking instances :")
		for _, u := range users {
			fmt.Fprintf(b, "     %s\n", u)
		}
	}
	return nil
}
