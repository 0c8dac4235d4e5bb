package compat

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
)

// This file compares the virtual servers keepalived runs with the
// director's: keepalived's checker process dumps them (--dump-conf) once
// it has read the file, which needs a kernel with IPVS (the kernel tier:
// lvs_kernel_test.go runs keepalived in the qemu VM). Compared, per
// virtual server: protocol, scheduler, quorum and hysteresis; per real
// server: weight and forwarding method; per checker: retries, delay
// before retry, delay loop, warmup and connect timeout, as each side runs
// them.

var (
	dumpVS      = regexp.MustCompile(`^ VS (?:VIP = (\S+), VPORT = (\d+)|FWMARK = (\d+)|GROUP = (\S+))`)
	dumpRS      = regexp.MustCompile(`^\s+RIP = (\S+), RPORT = (\d+), WEIGHT = (-?\d+)`)
	dumpChecker = regexp.MustCompile(`^ (\S+) -> \[(\S+)\]:\w+:(\d+)$`)
	dumpValue   = regexp.MustCompile(`^\s+([A-Za-z_ -]+?) = (.*)$`)
)

// vsID names a virtual server the way both sides can: "ADDR:PORT",
// "fwmark N" or "group NAME".
func vsID(addr, port string) string {
	if a, err := netip.ParseAddr(addr); err == nil {
		return netip.AddrPortFrom(a, uint16(atoi(port))).String()
	}
	return "group " + addr
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// parseLVSDump reads keepalived's checker dump: the LVS topology and the
// health checkers.
func parseLVSDump(log string) Values {
	v := Values{}
	section, vs, rs, chk := "", "", "", ""
	n := map[string]int{}
	for _, raw := range strings.Split(log, "\n") {
		l := strings.TrimRight(timestamp.ReplaceAllString(raw, ""), " \t\r")
		// The checker process prefixes its lines when it logs through
		// the parent ("Keepalived_healthcheckers[195]: ").
		if i := strings.Index(l, "]: "); i >= 0 && strings.HasPrefix(l, "Keepalived") {
			l = l[i+3:]
		}
		switch {
		case strings.HasPrefix(l, "------<"):
			section, vs, rs, chk = l, "", "", ""
			continue
		case strings.HasPrefix(strings.TrimSpace(l), "------<"):
			continue
		}
		switch {
		case strings.Contains(section, "LVS Topology"):
			if m := dumpVS.FindStringSubmatch(l); m != nil {
				switch {
				case m[3] != "":
					vs = "fwmark " + m[3]
				case m[4] != "":
					// "[VSG_1]:0"
					name, _, _ := strings.Cut(strings.TrimPrefix(m[4], "["), "]")
					vs = "group " + name
				default:
					vs = vsID(m[1], m[2])
				}
				rs = ""
				v["SERVICE "+vs] = "present"
				continue
			}
			if m := dumpRS.FindStringSubmatch(l); m != nil && vs != "" {
				rs = vs + " " + m[1] + ":" + m[2]
				v["RS "+rs] = "weight " + m[3]
				continue
			}
			m := dumpValue.FindStringSubmatch(l)
			if m == nil || vs == "" {
				continue
			}
			switch {
			case rs == "" && m[1] == "lvs_sched":
				v["VS "+vs+" scheduler"] = m[2]
			case rs == "" && m[1] == "protocol":
				v["VS "+vs+" protocol"] = m[2]
			case rs == "" && m[1] == "quorum":
				v["VS "+vs+" quorum"] = m[2] // "1, hysteresis = 0"
			case rs != "" && m[1] == "forwarding method":
				v["RS "+rs] += " " + m[2]
			}
		case strings.Contains(section, "Health checkers"):
			if m := dumpChecker.FindStringSubmatch(l); m != nil {
				id := checkerVS(m[1])
				base := id + " " + m[2] + ":" + m[3]
				n[base]++
				chk = fmt.Sprintf("CHECK %s #%d", base, n[base])
				continue
			}
			m := dumpValue.FindStringSubmatch(l)
			if m == nil || chk == "" {
				continue
			}
			switch m[1] {
			case "Retries":
				v[chk+" retry"] = m[2]
			case "Delay before retry":
				v[chk+" delay_before_retry"] = micros(m[2])
			case "Delay loop":
				v[chk+" delay_loop"] = micros(m[2])
			case "Warmup":
				v[chk+" warmup"] = micros(m[2])
			case "Timeout":
				v[chk+" connect_timeout"] = seconds(m[2])
			}
		}
	}
	return v
}

// checkerVS turns a checker header's virtual server ("[10.2.2.2]:tcp:80",
// "FWM 7", "[WEB]:80") into a vsID.
func checkerVS(s string) string {
	if f, ok := strings.CutPrefix(s, "FWM"); ok {
		return "fwmark " + strings.TrimSpace(f)
	}
	s = strings.TrimPrefix(s, "[")
	addr, rest, _ := strings.Cut(s, "]:")
	parts := strings.Split(rest, ":")
	return vsID(addr, parts[len(parts)-1])
}

// micros turns "60000000 us" into a duration string.
func micros(s string) string {
	n, err := strconv.ParseInt(strings.TrimSuffix(s, " us"), 10, 64)
	if err != nil {
		return s
	}
	return (time.Duration(n) * time.Microsecond).String()
}

// planLVSValues are the same values of the director's plan of the file
// whose parse is cfg: one virtual server per block (a group's first
// service stands for the group, as keepalived dumps the group once).
func planLVSValues(cfg *keepalived.Config, p *director.Plan) Values {
	v := Values{}
	ids := map[keepalived.Pos]string{}
	for _, vs := range cfg.VirtualServers {
		switch {
		case vs.FwMark.Set():
			ids[vs.Pos] = fmt.Sprintf("fwmark %d", vs.FwMark.V)
		case vs.Group != "":
			ids[vs.Pos] = "group " + vs.Group
		default:
			ids[vs.Pos] = netip.AddrPortFrom(vs.Addr, vs.Port).String()
		}
	}
	seen := map[string]bool{}
	for _, vp := range p.VirtualServers {
		vs := ids[vp.Pos]
		if vs == "" || seen[vs] {
			continue
		}
		seen[vs] = true
		svc := vp.Service
		v["SERVICE "+vs] = "present"
		v["VS "+vs+" scheduler"] = svc.Scheduler
		proto := "none" // a fwmark service
		if svc.FWMark == 0 {
			proto = strings.ToUpper(svc.Protocol.String())
		}
		v["VS "+vs+" protocol"] = proto
		v["VS "+vs+" quorum"] = fmt.Sprintf("%d, hysteresis = %d", vp.Quorum, vp.Hysteresis)
		for _, rs := range vp.RealServers {
			port := rs.Port
			if port == 0 && svc.FWMark == 0 {
				port = svc.Port
			}
			id := fmt.Sprintf("%s %s:%d", vs, rs.Addr, port)
			v["RS "+id] = fmt.Sprintf("weight %d %s", rs.Weight, map[ipvs.Forward]string{
				ipvs.Masquerade: "NAT", ipvs.DirectRoute: "DR", ipvs.Tunnel: "TUN"}[rs.Forward])
			n := 0
			for _, c := range rs.Checks {
				n++
				chk := fmt.Sprintf("CHECK %s #%d", id, n)
				e := c.Policy.Effective(c.Checker)
				v[chk+" retry"] = strconv.Itoa(e.Retry)
				v[chk+" delay_before_retry"] = e.DelayBeforeRetry.String()
				v[chk+" delay_loop"] = e.DelayLoop.String()
				v[chk+" warmup"] = e.Warmup.String()
				v[chk+" connect_timeout"] = e.ConnectTimeout.String()
				if healthcheck.KindOf(c.Checker) == "misc" || healthcheck.KindOf(c.Checker) == "file" {
					delete(v, chk+" connect_timeout") // keepalived has none for these
				}
			}
		}
	}
	return v
}

// diffLVS lists keepalived's values that the director runs differently:
// every setting keepalived dumps (the director has more of some: its
// checkers' timeouts, say), and every virtual or real server either side
// has that the other lacks.
func diffLVS(k, d Values) []string {
	trimmed := Values{}
	for key, val := range d {
		if _, ok := k[key]; ok || strings.HasPrefix(key, "SERVICE ") || strings.HasPrefix(key, "RS ") {
			trimmed[key] = val
		}
	}
	return diffValues(k, trimmed)
}
