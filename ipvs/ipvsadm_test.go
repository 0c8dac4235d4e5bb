package ipvs

// ipvsadm as an independent observer and programmer of the kernel's
// table: a generator of `ipvsadm -R` rules, and parsers of `ipvsadm -Sn`
// (the same rule syntax) and of `ipvsadm -Ln` and its --stats view.

import (
	"bufio"
	"math/rand/v2"
	"testing"

	"fmt"
	"github.com/google/go-cmp/cmp"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ipvsadmService renders the service option of an ipvsadm rule.
func ipvsadmService(s *Service) string {
	k := s.Key()
	if k.FWMark != 0 {
		if k.Family == Inet6 {
			return fmt.Sprintf("-f %d -6", k.FWMark)
		}
		return fmt.Sprintf("-f %d", k.FWMark)
	}
	opt := map[Protocol]string{TCP: "-t", UDP: "-u", SCTP: "--sctp-service"}[k.Protocol]
	return opt + " " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

func schedFlagNames(s *Service) string {
	var names []string
	one, two, three := "flag-1", "flag-2", "flag-3"
	switch s.SchedulerName() {
	case "sh":
		one, two = "sh-fallback", "sh-port"
	case "mh":
		one, two = "mh-fallback", "mh-port"
	}
	if s.Flags&SHFallback != 0 {
		names = append(names, one)
	}
	if s.Flags&SHPort != 0 {
		names = append(names, two)
	}
	if s.Flags&Sched3 != 0 {
		names = append(names, three)
	}
	return strings.Join(names, ",")
}

// restoreRules renders a table as `ipvsadm -R` input.
func restoreRules(table []Service) string {
	var b strings.Builder
	for i := range table {
		s := &table[i]
		fmt.Fprintf(&b, "-A %s -s %s", ipvsadmService(s), s.SchedulerName())
		if f := schedFlagNames(s); f != "" {
			fmt.Fprintf(&b, " -b %s", f)
		}
		if s.PersistenceTimeout > 0 {
			fmt.Fprintf(&b, " -p %d", s.PersistenceTimeout/time.Second)
			if s.Key().Family == Inet6 {
				fmt.Fprintf(&b, " -M %d", s.PersistenceMask())
			} else {
				m := ^uint32(0) << (32 - s.PersistenceMask())
				fmt.Fprintf(&b, " -M %d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
			}
			if s.PEName != "" {
				fmt.Fprintf(&b, " --pe %s", s.PEName)
			}
		}
		if s.Flags&OnePacket != 0 {
			b.WriteString(" -o")
		}
		b.WriteString("\n")
		for j := range s.Destinations {
			d := &s.Destinations[j]
			k := s.destKey(d)
			if k.Port == 0 {
				fmt.Fprintf(&b, "-a %s -r %s", ipvsadmService(s), bracket(k.Addr))
			} else {
				fmt.Fprintf(&b, "-a %s -r %s", ipvsadmService(s), netip.AddrPortFrom(k.Addr, k.Port))
			}
			switch d.Forward {
			case Masquerade:
				b.WriteString(" -m")
			case DirectRoute:
				b.WriteString(" -g")
			case Tunnel:
				b.WriteString(" -i")
				fmt.Fprintf(&b, " --tun-type %s", d.TunnelType)
				if d.TunnelType == TunnelGUE {
					fmt.Fprintf(&b, " --tun-port %d", d.TunnelPort)
				}
				switch {
				case d.TunnelFlags&TunnelCsum != 0:
					b.WriteString(" --tun-csum")
				case d.TunnelFlags&TunnelRemoteCsum != 0:
					b.WriteString(" --tun-remcsum")
				}
			}
			fmt.Fprintf(&b, " -w %d", d.Weight)
			if d.UpperThreshold != 0 {
				fmt.Fprintf(&b, " -x %d", d.UpperThreshold)
			}
			if d.LowerThreshold != 0 {
				fmt.Fprintf(&b, " -y %d", d.LowerThreshold)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// bracket writes an address as ipvsadm wants it without a port.
func bracket(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// parseIPPort reads "1.2.3.4:80" or "[fd00::1]:80".
func parseIPPort(s string) (netip.Addr, uint16, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	return ap.Addr(), ap.Port(), nil
}

// parseRules parses ipvsadm rule syntax (`ipvsadm -Sn` output or
// restoreRules output) into a table.
func parseRules(text string) ([]Service, error) {
	var out []Service
	index := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var s Service
		var d Destination
		var svcID []string
		cmd := f[0]
		if cmd != "-A" && cmd != "-a" {
			return nil, fmt.Errorf("unknown rule %q", sc.Text())
		}
		for i := 1; i < len(f); i++ {
			arg := func() (string, error) {
				if i+1 >= len(f) {
					return "", fmt.Errorf("%s needs an argument in %q", f[i], sc.Text())
				}
				i++
				return f[i], nil
			}
			var v string
			var err error
			switch f[i] {
			case "-t", "--tcp-service", "-u", "--udp-service", "--sctp-service":
				s.Protocol = map[string]Protocol{"-t": TCP, "--tcp-service": TCP, "-u": UDP, "--udp-service": UDP, "--sctp-service": SCTP}[f[i]]
				if v, err = arg(); err == nil {
					svcID = append(svcID, s.Protocol.String(), v)
					s.Addr, s.Port, err = parseIPPort(v)
				}
			case "-f", "--fwmark-service":
				if v, err = arg(); err == nil {
					svcID = append(svcID, "fwm", v)
					var m uint64
					m, err = strconv.ParseUint(v, 10, 32)
					s.FWMark = uint32(m)
					if s.Family == 0 {
						s.Family = Inet
					}
				}
			case "-6", "--ipv6":
				s.Family = Inet6
				svcID = append(svcID, "6")
			case "-s", "--scheduler":
				s.Scheduler, err = arg()
			case "-b", "--sched-flags":
				if v, err = arg(); err == nil {
					for _, name := range strings.Split(v, ",") {
						switch name {
						case "sh-fallback", "mh-fallback", "flag-1":
							s.Flags |= SHFallback
						case "sh-port", "mh-port", "flag-2":
							s.Flags |= SHPort
						case "flag-3":
							s.Flags |= Sched3
						default:
							err = fmt.Errorf("unknown scheduler flag %q", name)
						}
					}
				}
			case "-p", "--persistent":
				s.PersistenceTimeout = 300 * time.Second
				if i+1 < len(f) && !strings.HasPrefix(f[i+1], "-") {
					v, _ = arg()
					var n uint64
					n, err = strconv.ParseUint(v, 10, 32)
					s.PersistenceTimeout = time.Duration(n) * time.Second
				}
			case "-M", "--netmask":
				if v, err = arg(); err == nil {
					if a, perr := netip.ParseAddr(v); perr == nil && a.Is4() {
						b := a.As4()
						m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
						n := 0
						for m&0x80000000 != 0 {
							n++
							m <<= 1
						}
						s.PersistenceBits = n
					} else {
						s.PersistenceBits, err = strconv.Atoi(v)
					}
				}
			case "--pe":
				s.PEName, err = arg()
			case "-o", "--ops":
				s.Flags |= OnePacket
			case "-r", "--real-server":
				if v, err = arg(); err == nil {
					d.Addr, d.Port, err = parseIPPort(v)
					if err != nil { // a bare address: no port
						d.Addr, err = netip.ParseAddr(strings.Trim(v, "[]"))
					}
				}
			case "-g", "--gatewaying":
				d.Forward = DirectRoute
			case "-i", "--ipip":
				d.Forward = Tunnel
			case "-m", "--masquerading":
				d.Forward = Masquerade
			case "-w", "--weight":
				if v, err = arg(); err == nil {
					var n int64
					n, err = strconv.ParseInt(v, 10, 32)
					d.Weight = int32(n)
				}
			case "-x", "--u-threshold", "-y", "--l-threshold":
				o := f[i]
				if v, err = arg(); err == nil {
					var n uint64
					n, err = strconv.ParseUint(v, 10, 32)
					if o == "-x" || o == "--u-threshold" {
						d.UpperThreshold = uint32(n)
					} else {
						d.LowerThreshold = uint32(n)
					}
				}
			case "--tun-type":
				if v, err = arg(); err == nil {
					tt, ok := map[string]TunnelType{"ipip": TunnelIPIP, "gue": TunnelGUE, "gre": TunnelGRE}[v]
					if !ok {
						err = fmt.Errorf("unknown tunnel type %q", v)
					}
					d.TunnelType = tt
				}
			case "--tun-port":
				if v, err = arg(); err == nil {
					var n uint64
					n, err = strconv.ParseUint(v, 10, 16)
					d.TunnelPort = uint16(n)
				}
			case "--tun-nocsum":
			case "--tun-csum":
				d.TunnelFlags |= TunnelCsum
			case "--tun-remcsum":
				d.TunnelFlags |= TunnelRemoteCsum
			default:
				err = fmt.Errorf("unknown option %q", f[i])
			}
			if err != nil {
				return nil, fmt.Errorf("rule %q: %w", sc.Text(), err)
			}
		}
		id := strings.Join(svcID, " ")
		if cmd == "-A" {
			index[id] = len(out)
			out = append(out, s)
			continue
		}
		j, ok := index[id]
		if !ok {
			return nil, fmt.Errorf("rule %q: service not defined before", sc.Text())
		}
		out[j].Destinations = append(out[j].Destinations, d)
	}
	return out, sc.Err()
}

// listedDest is a destination line of `ipvsadm -Ln`.
type listedDest struct {
	Addr     netip.AddrPort
	Forward  string
	Weight   int32
	Active   uint32
	Inactive uint32
}

// listedService is a service line of `ipvsadm -Ln` with its destinations.
type listedService struct {
	Key        string // as ipvsadm prints it: "TCP 10.0.0.1:80", "FWM 1", "FWM 1 IPv6"
	Scheduler  string
	Persistent uint64 // seconds, 0 if not persistent
	Rest       string // everything after the scheduler, for the log
	Dests      []listedDest
}

// listKey is how ipvsadm -Ln names s.
func listKey(s *Service) string {
	k := s.Key()
	if k.FWMark != 0 {
		if k.Family == Inet6 {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Addr, k.Port))
}

// listForward is how ipvsadm -Ln names a forwarding method.
func listForward(f Forward) string {
	return map[Forward]string{Masquerade: "Masq", DirectRoute: "Route", Tunnel: "Tunnel", Local: "Local"}[f]
}

// parseList parses `ipvsadm -Ln`.
func parseList(text string) ([]listedService, error) {
	var out []listedService
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) == 0, strings.HasPrefix(line, "IP Virtual Server"), strings.HasPrefix(line, "Prot "),
			strings.HasPrefix(strings.TrimSpace(line), "-> RemoteAddress"):
			continue
		case f[0] == "->":
			if len(out) == 0 || len(f) < 6 {
				return nil, fmt.Errorf("destination line %q", line)
			}
			ap, err := netip.ParseAddrPort(f[1])
			if err != nil {
				return nil, fmt.Errorf("destination line %q: %w", line, err)
			}
			w, err1 := strconv.ParseInt(f[3], 10, 32)
			a, err2 := strconv.ParseUint(f[4], 10, 32)
			in, err3 := strconv.ParseUint(f[5], 10, 32)
			if err1 != nil || err2 != nil || err3 != nil {
				return nil, fmt.Errorf("destination line %q: bad numbers", line)
			}
			s := &out[len(out)-1]
			s.Dests = append(s.Dests, listedDest{Addr: ap, Forward: f[2], Weight: int32(w), Active: uint32(a), Inactive: uint32(in)})
		case f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP":
			if len(f) < 3 {
				return nil, fmt.Errorf("service line %q", line)
			}
			out = append(out, listedService{Key: f[0] + " " + f[1], Scheduler: f[2], Rest: strings.Join(f[3:], " ")})
		case f[0] == "FWM":
			if len(f) < 3 {
				return nil, fmt.Errorf("service line %q", line)
			}
			key, rest := "FWM "+f[1], f[2:]
			if rest[0] == "IPv6" {
				key, rest = key+" IPv6", rest[1:]
			}
			if len(rest) == 0 {
				return nil, fmt.Errorf("service line %q", line)
			}
			out = append(out, listedService{Key: key, Scheduler: rest[0], Rest: strings.Join(rest[1:], " ")})
		default:
			return nil, fmt.Errorf("unexpected line %q", line)
		}
		if n := len(out); n > 0 && f[0] != "->" {
			s := &out[n-1]
			r := strings.Fields(s.Rest)
			for i := 0; i+1 < len(r); i++ {
				if r[i] == "persistent" {
					s.Persistent, _ = strconv.ParseUint(r[i+1], 10, 64)
				}
			}
		}
	}
	return out, sc.Err()
}

// listedStats is a line of `ipvsadm -Ln --stats --exact`.
type listedStats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// parseStats parses `ipvsadm -Ln --stats --exact` into counters keyed by
// the service's listKey, and by listKey + " -> " + destination.
func parseStats(text string) (map[string]listedStats, error) {
	out := map[string]listedStats{}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(line, "IP Virtual Server") || strings.HasPrefix(line, "Prot ") ||
			strings.HasPrefix(strings.TrimSpace(line), "-> RemoteAddress") {
			continue
		}
		var key string
		var nums []string
		switch {
		case f[0] == "->":
			key, nums = cur+" -> "+f[1], f[2:]
		case f[0] == "FWM" && len(f) > 2 && f[2] == "IPv6":
			cur = "FWM " + f[1] + " IPv6"
			key, nums = cur, f[3:]
		default:
			if len(f) < 2 {
				return nil, fmt.Errorf("stats line %q", line)
			}
			cur = f[0] + " " + f[1]
			key, nums = cur, f[2:]
		}
		if len(nums) < 5 {
			return nil, fmt.Errorf("stats line %q", line)
		}
		var v [5]uint64
		for i := range v {
			n, err := strconv.ParseUint(nums[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("stats line %q: %w", line, err)
			}
			v[i] = n
		}
		out[key] = listedStats{v[0], v[1], v[2], v[3], v[4]}
	}
	return out, sc.Err()
}

// TestRulesRoundTrip checks the test's own ipvsadm rule generator against
// its parser, so that a mismatch in the VM is the kernel's or lvskit's.
func TestRulesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		tab := randomTable(r)
		got, err := parseRules(restoreRules(tab))
		if err != nil {
			t.Fatalf("parse %q: %v", restoreRules(tab), err)
		}
		if d := cmp.Diff(Canonical(tab), Canonical(got), addrCmp); d != "" {
			t.Fatalf("rules round trip (-want +got):\n%s\nrules:\n%s", d, restoreRules(tab))
		}
	}
}
