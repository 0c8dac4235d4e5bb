package compat

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/vrrp"
)

// Values are effective VRRP settings by "instance setting" (or "global
// setting"), as both sides print them: keepalived's --dump-conf and the
// director's plan.
type Values map[string]string

// parseDump reads keepalived's VRRP dump: the global definitions and the
// VRRP topology.
func parseDump(log string) Values {
	v := Values{}
	section, inst, list := "", "", ""
	for _, raw := range strings.Split(log, "\n") {
		l := strings.TrimRight(timestamp.ReplaceAllString(raw, ""), " \t\r")
		if strings.HasPrefix(l, "------<") {
			section, inst, list = l, "", ""
			continue
		}
		if section != "" && l != "" && l[0] != ' ' {
			// Every line of the dump is indented: this one is keepalived's
			// parent process ("Startup complete"), written into the middle
			// of its VRRP child's dump (seen in CI, between two VIPs).
			continue
		}
		trim := strings.TrimSpace(l)
		key, val, kv := strings.Cut(trim, " = ")
		switch {
		case strings.Contains(section, "Global definitions") && kv:
			switch key {
			case "Router ID":
				v["global router_id"] = val
			case "Gratuitous ARP interval":
				v["global garp_interval"] = seconds(val)
			case "Gratuitous NA interval":
				v["global gna_interval"] = seconds(val)
			}
		case !strings.Contains(section, "VRRP Topology"):
		case kv && key == "VRRP Instance":
			inst, list = val, ""
		case inst == "":
		case strings.HasPrefix(trim, "Virtual IP ("):
			list = "vips"
			v[inst+" vips"] = ""
		case strings.HasPrefix(trim, "Unicast Peer"):
			list = "peers"
			v[inst+" peers"] = ""
		case list != "" && strings.HasPrefix(l, "     ") && !kv:
			v[inst+" "+list] = strings.TrimSpace(v[inst+" "+list] + " " + strings.Fields(trim)[0])
		case kv:
			list = ""
			switch key {
			case "VRRP Version":
				v[inst+" version"] = val
			case "Sync group":
				v[inst+" sync_group"] = val
			case "Wantstate":
				v[inst+" state"] = val
			case "Virtual Router ID":
				v[inst+" vrid"] = val
			case "Priority":
				v[inst+" priority"] = val
			case "Advert interval":
				v[inst+" advert_int"] = advert(val)
			case "Preempt":
				v[inst+" preempt"] = val
			case "Authentication type":
				v[inst+" auth_type"] = map[string]string{"none": "none", "SIMPLE_PASSWORD": "PASS", "IPSEC_AH": "AH"}[val]
			case "Password":
				v[inst+" auth_pass"] = val
			case "Using src_ip":
				if src, ok := strings.CutSuffix(val, " (from configuration)"); ok {
					v[inst+" src"] = src
				}
			}
		default:
			list = ""
		}
	}
	for k, s := range v {
		if strings.HasSuffix(k, " vips") || strings.HasSuffix(k, " peers") {
			f := strings.Fields(s)
			slices.Sort(f)
			v[k] = strings.Join(f, " ")
		}
	}
	return v
}

// seconds turns keepalived's "0.000000" into a duration string.
func seconds(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return (time.Duration(f*1e6) * time.Microsecond).String()
}

// advert turns "1 sec" or "500 milli-sec" into a duration string.
func advert(s string) string {
	n, unit, _ := strings.Cut(s, " ")
	v, err := strconv.Atoi(n)
	if err != nil {
		return s
	}
	if unit == "milli-sec" {
		return (time.Duration(v) * time.Millisecond).String()
	}
	return (time.Duration(v) * time.Second).String()
}

// planValues are the same settings of the director's plan, with the
// defaults vrrp applies (vrrp.Config's zero values) resolved the same way.
func planValues(p *director.Plan, instances bool) Values {
	v := Values{
		"global router_id": p.RouterID,
	}
	for _, in := range p.Instances {
		c := in.VRRP
		n := c.Name
		v["global garp_interval"] = c.GARPInterval.String()
		v["global gna_interval"] = c.GNAInterval.String()
		if !instances {
			continue
		}
		v6 := len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6() ||
			len(c.VIPs) == 0 && c.Source.Is6()
		version := c.Version
		if version == 0 {
			version = 2
			if v6 {
				version = 3
			}
		}
		v[n+" version"] = strconv.Itoa(version)
		if in.SyncGroup != "" {
			v[n+" sync_group"] = in.SyncGroup
		}
		v[n+" vrid"] = strconv.Itoa(int(c.VRID))
		prio := priority(c)
		v[n+" priority"] = strconv.Itoa(prio)
		// keepalived's dumped wantstate is the state MASTER/BACKUP as
		// configured, but in a sync group MASTER only when every member
		// is an address owner with state MASTER (vrrp_sync_set_group).
		state := "BACKUP"
		if c.InitialState == vrrp.StateMaster {
			state = "MASTER"
		}
		for _, m := range p.Instances {
			if in.SyncGroup != "" && m.SyncGroup == in.SyncGroup &&
				(m.VRRP.InitialState != vrrp.StateMaster || priority(m.VRRP) != vrrp.PriorityOwner) {
				state = "BACKUP"
			}
		}
		v[n+" state"] = state
		adv := c.AdvertInterval
		if adv == 0 {
			adv = time.Second
		}
		v[n+" advert_int"] = adv.String()
		v[n+" preempt"] = map[bool]string{true: "disabled", false: "enabled"}[c.NoPreempt && c.InitialState != vrrp.StateMaster]
		if version == 2 { // keepalived prints no authentication for v3
			auth := in.AuthType
			if auth == "" {
				auth = "none"
			}
			v[n+" auth_type"] = auth
			if in.AuthType == "PASS" { // keepalived dumps no password for AH
				v[n+" auth_pass"] = c.AuthPass
			}
		}
		var vips []string
		for _, a := range c.VIPs {
			s := a.Prefix.String()
			if a.Prefix.IsSingleIP() { // keepalived prints a host address bare
				s = a.Prefix.Addr().String()
			}
			vips = append(vips, s)
		}
		slices.Sort(vips)
		if len(vips) > 0 {
			v[n+" vips"] = strings.Join(vips, " ")
		}
		if c.Source.IsValid() {
			v[n+" src"] = c.Source.String()
		}
		if c.Unicast {
			var peers []string
			for _, a := range c.UnicastPeers {
				peers = append(peers, a.String())
			}
			slices.Sort(peers)
			v[n+" peers"] = strings.Join(peers, " ")
		}
	}
	return v
}

// diffValues lists the settings that differ, "key: keepalived X, director
// Y", in key order; a setting one side lacks shows as "(none)".
func diffValues(k, d Values) []string {
	keys := map[string]bool{}
	for key := range k {
		keys[key] = true
	}
	for key := range d {
		keys[key] = true
	}
	var out []string
	for key := range keys {
		kv, kok := k[key]
		dv, dok := d[key]
		if kok && dok && kv == dv {
			continue
		}
		if !kok {
			kv = "(none)"
		}
		if !dok {
			dv = "(none)"
		}
		out = append(out, fmt.Sprintf("%s: keepalived %q, director %q", key, kv, dv))
	}
	slices.Sort(out)
	return out
}

// priority is c's priority with vrrp's default: 255 for state MASTER, else
// 100.
func priority(c vrrp.Config) int {
	if c.Priority != 0 {
		return c.Priority
	}
	if c.InitialState == vrrp.StateMaster {
		return vrrp.PriorityOwner
	}
	return 100
}
